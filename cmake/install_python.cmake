# install_python.cmake: run by `cmake --install` (install.cmake sets ATTN_PY_SOURCE, ATTN_PY_DIR,
# ATTN_PY_LIB and ATTN_PY_STAGE before it). Installs python/attn.py into ATTN_PY_DIR (absolute,
# or relative to the prefix) with _INSTALLED_LIBRARY set to the installed libattn's path
# relative to the module, so that the module loads the library of its own prefix wherever the
# prefix is, without ATTN_LIBRARY. The path is computed here, at install time, because
# `cmake --install --prefix` may change the prefix after configuring.
set(_dir "${ATTN_PY_DIR}")
if(NOT IS_ABSOLUTE "${_dir}")
  set(_dir "${CMAKE_INSTALL_PREFIX}/${_dir}")
endif()
file(RELATIVE_PATH _lib "${_dir}" "${CMAKE_INSTALL_PREFIX}/${ATTN_PY_LIB}")
file(READ "${ATTN_PY_SOURCE}" _text)
string(REPLACE "\n_INSTALLED_LIBRARY = None\n" "\n_INSTALLED_LIBRARY = \"${_lib}\"\n" _installed
       "${_text}")
if(_installed STREQUAL _text)
  message(FATAL_ERROR "${ATTN_PY_SOURCE} has no line '_INSTALLED_LIBRARY = None' to set")
endif()
file(WRITE "${ATTN_PY_STAGE}/attn.py" "${_installed}")
file(INSTALL DESTINATION "${_dir}" TYPE FILE FILES "${ATTN_PY_STAGE}/attn.py")
