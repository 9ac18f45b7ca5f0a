# install.cmake: the installed package. Included by the top-level CMakeLists.txt after the
# attnc, attn and attn_static targets exist (and after their install(TARGETS ... EXPORT)).
# It installs:
#   lib/cmake/attnc/  attncConfig.cmake, attncConfigVersion.cmake, attncTargets.cmake and
#                     AttnAddKernels.cmake: find_package(attnc) gives attnc::attn (shared),
#                     attnc::attn_static, attnc::attnc (the CLI) and attn_add_kernels()
#   lib/pkgconfig/attn.pc
#   the Python module attn.py, into ATTNC_PYTHON_DIR (python.cmake), set to load this libattn
# The static libattn must stand alone: it gets the compiler's objects (attnc_core is an
# internal archive that is not installed), and its link interface names LLVM's static
# libraries by absolute path, so a consumer links it without knowing LLVM is inside.
include(CMakePackageConfigHelpers)

set(ATTNC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/attnc)

# ---- static libattn: fold the compiler in, carry LLVM in the link interface ------------------
target_sources(attn_static PRIVATE $<TARGET_OBJECTS:attnc_core>)
execute_process(COMMAND ${LLVM_CONFIG} --link-static --libfiles nvptx x86 orcjit passes core native
                OUTPUT_VARIABLE _attn_llvm_files OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE _attn_llvm_rc)
if(NOT _attn_llvm_rc EQUAL 0)
  message(FATAL_ERROR "llvm-config --libfiles failed; the static libattn cannot be exported")
endif()
separate_arguments(_attn_llvm_files UNIX_COMMAND "${_attn_llvm_files}")
set(_attn_system_libs stdc++ z zstd rt ${CMAKE_DL_LIBS} m)
set_property(TARGET attn_static PROPERTY INTERFACE_LINK_LIBRARIES
             ${_attn_llvm_files} ${_attn_system_libs} Threads::Threads)

# ---- CMake package ---------------------------------------------------------------------------
install(EXPORT attncTargets NAMESPACE attnc:: DESTINATION ${ATTNC_CMAKE_DIR}
        FILE attncTargets.cmake)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/attncConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/attncConfig.cmake
                              INSTALL_DESTINATION ${ATTNC_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/attncConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attncConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/attncConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/AttnAddKernels.cmake
        DESTINATION ${ATTNC_CMAKE_DIR})

# ---- pkg-config ------------------------------------------------------------------------------
# `pkg-config --libs attn` links the shared library (LLVM is inside it, hidden), with the
# prefix's library folder as an rpath so that the program starts from any prefix without
# LD_LIBRARY_PATH; `pkg-config --static --libs attn` adds what the static archive needs.
# The prefix is found from the .pc file's own place, so `cmake --install --prefix` anywhere works.
string(REGEX REPLACE "[^/]+" ".." ATTN_PC_UP "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
list(JOIN _attn_llvm_files " " ATTN_PC_LLVM_LIBS)
set(ATTN_PC_SYSTEM_LIBS "")
foreach(_l ${_attn_system_libs} pthread)
  string(APPEND ATTN_PC_SYSTEM_LIBS " -l${_l}")
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/attn.pc.in ${CMAKE_CURRENT_BINARY_DIR}/attn.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attn.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- the Python module ---------------------------------------------------------------------
include(${CMAKE_CURRENT_LIST_DIR}/python.cmake)
if(ATTNC_PYTHON_DIR)
  install(CODE "set(ATTN_PY_SOURCE \"${PROJECT_SOURCE_DIR}/python/attn.py\")
set(ATTN_PY_DIR \"${ATTNC_PYTHON_DIR}\")
set(ATTN_PY_LIB \"${CMAKE_INSTALL_LIBDIR}/$<TARGET_SONAME_FILE_NAME:attn>\")
set(ATTN_PY_STAGE \"${CMAKE_CURRENT_BINARY_DIR}/python-install\")")
  install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/install_python.cmake)
endif()

# attn_add_kernels() for this source tree too (tests and examples built in-tree).
include(${CMAKE_CURRENT_LIST_DIR}/AttnAddKernels.cmake)
