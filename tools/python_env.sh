# Sourced by the shell tools: picks the Python interpreter they run.
#   PYTHON set           -> that interpreter (always wins);
#   else MMMOCO_VENV or the project's .venv/bin/python exists -> the virtualenv's python
#                           (so the tools work without `source .venv/bin/activate`);
#   else                 -> python3 (or python) from PATH.
# Usage: root=<repository root>; source "$root/tools/python_env.sh"; "$PYTHON" ...
if [ -z "${PYTHON:-}" ]; then
  _mmmoco_venv=${MMMOCO_VENV:-$root/.venv}
  if [ -x "$_mmmoco_venv/bin/python" ]; then
    PYTHON=$_mmmoco_venv/bin/python
  elif command -v python3 >/dev/null 2>&1; then
    PYTHON=python3
  else
    PYTHON=python
  fi
  unset _mmmoco_venv
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
