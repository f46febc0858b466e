#!/usr/bin/env bash
# Compiler wrapper for building mmcv 2.1.0 against torch 2.14: mmcv's setup.py passes
# -std=c++14/-std=c++17, while torch 2.14's headers require C++20. This rewrites the flag and
# calls the real compiler (MMMOCO_REAL_CXX, default g++). mmcv's own source is left untouched.
args=()
for a in "$@"; do
  case "$a" in
    -std=c++14|-std=c++17|-std=gnu++14|-std=gnu++17) args+=("-std=c++20") ;;
    *) args+=("$a") ;;
  esac
done
exec "${MMMOCO_REAL_CXX:-g++}" "${args[@]}"
