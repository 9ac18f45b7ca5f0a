# python.cmake: the Python that the module python/attn.py is installed for and tested with.
# Included by install.cmake, before tests/; sets:
#   ATTNC_PYTHON      the interpreter: the first python3 CMake finds, or /usr/bin/python3 when
#                     that one lacks numpy and the system's has it (setup.sh installs Debian's
#                     python3-numpy, while a pyenv python3 first on PATH may have none); empty
#                     when there is no Python 3
#   ATTNC_PYTHON_DIR  (cache) where `cmake --install` puts attn.py: relative to the install
#                     prefix, or absolute. Default: ATTNC_PYTHON's site-packages folder from
#                     lib/python3.X/ on, which that Python searches when the prefix is its own
#                     (/usr/local for Debian's python3, the venv for a venv); empty: not installed
#   ATTNC_PYTHON_ENV  the environment a test that loads libattn into ATTNC_PYTHON needs: an
#                     instrumented libattn in an uninstrumented python needs the ASan runtime
#                     loaded first (python's own allocations are not ours to leak-check)
find_package(Python3 COMPONENTS Interpreter)
set(ATTNC_PYTHON "")
set(_attn_py_dir "")
set(_attn_py_base "")
if(Python3_Interpreter_FOUND)
  set(ATTNC_PYTHON ${Python3_EXECUTABLE})
  execute_process(COMMAND ${ATTNC_PYTHON} -c "import numpy" RESULT_VARIABLE _no_numpy
                  OUTPUT_QUIET ERROR_QUIET)
  if(_no_numpy AND EXISTS /usr/bin/python3)
    execute_process(COMMAND /usr/bin/python3 -c "import numpy" RESULT_VARIABLE _sys_no_numpy
                    OUTPUT_QUIET ERROR_QUIET)
    if(NOT _sys_no_numpy)
      set(ATTNC_PYTHON /usr/bin/python3)
    endif()
  endif()
  # The site folder pip would use (Debian: /usr/local/lib/python3.11/dist-packages), split
  # into the prefix it lies in and the tail from lib/python on.
  execute_process(COMMAND ${ATTNC_PYTHON} -c
                  "import sysconfig; p = sysconfig.get_paths()['purelib']; i = p.rfind('/lib/python'); print(p[i + 1:] if i >= 0 else ''); print(p[:i] if i >= 0 else '')"
                  OUTPUT_VARIABLE _attn_py_paths OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(REPLACE "\n" ";" _attn_py_paths "${_attn_py_paths}")
  list(LENGTH _attn_py_paths _n)
  if(_n EQUAL 2)
    list(GET _attn_py_paths 0 _attn_py_dir)
    list(GET _attn_py_paths 1 _attn_py_base)
  endif()
endif()
set(ATTNC_PYTHON_DIR "${_attn_py_dir}" CACHE STRING
    "Where cmake --install puts attn.py (relative to the prefix, or absolute; empty: nowhere)")
if(IS_ABSOLUTE "${ATTNC_PYTHON_DIR}")
  message(STATUS "attn.py installs into ${ATTNC_PYTHON_DIR}")
elseif(ATTNC_PYTHON_DIR)
  message(STATUS "attn.py installs into <prefix>/${ATTNC_PYTHON_DIR}, where ${ATTNC_PYTHON} "
                 "finds it when the prefix is ${_attn_py_base}")
else()
  message(STATUS "no Python 3 site folder found; attn.py is not installed (set ATTNC_PYTHON_DIR)")
endif()

set(ATTNC_PYTHON_ENV "")
if(ATTNC_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _asan OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(ATTNC_PYTHON_ENV "LD_PRELOAD=${_asan}" "ASAN_OPTIONS=detect_leaks=0")
endif()
