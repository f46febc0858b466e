#!/usr/bin/env bash
# Installs the Debian packages that hold the real sample data used by the demo and the tests:
# dataset-fashion-mnist (70k 28x28 images) and labelme-examples (PASCAL VOC / COCO samples).
# Needs root and Debian's apt; otherwise says what is missing and carries on.
set -uo pipefail
missing=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
[ -d /usr/share/doc/labelme-examples/examples ] || missing+=(labelme-examples)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[system_data] installing ${missing[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "[system_data] WARNING: apt-get could not install ${missing[*]}; tests that need them will be skipped"
else
  echo "[system_data] WARNING: ${missing[*]} not installed (run as root: apt-get install ${missing[*]}); tests that need them will be skipped"
fi
