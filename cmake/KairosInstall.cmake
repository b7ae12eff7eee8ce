# Installs the runtime as a CMake package, so a host app can
#   find_package(kairos REQUIRED)  and link  kairos::runtime.
# The libraries are static, and the gpu/ and scheduler/ targets carry
# source-tree include paths, so the package is a hand-written config over the
# installed archives rather than an install(EXPORT) of the build targets.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_kairos_libs kairos_actors kairos_engine kairos_scheduler kairos_model kairos_tokenizer kairos_kv kairos_kernels kairos_base)
# With the CUDA backend compiled in, kairos_actors calls into kairos_cuda, so
# the package carries it and asks for the CUDA runtime, cuBLAS (and NCCL).
set(KAIROS_INSTALL_CUDA_LINK "")
if(TARGET kairos_cuda)
  list(INSERT _kairos_libs 1 kairos_cuda)
  set(KAIROS_INSTALL_CUDA_LINK "CUDA::cudart;CUDA::cublas")
  get_filename_component(KAIROS_INSTALL_CUDA_ROOT "${CUDAToolkit_BIN_DIR}" DIRECTORY)
  if(TARGET NCCL::nccl)
    list(APPEND KAIROS_INSTALL_CUDA_LINK "${NCCL_LIBRARY}")
  endif()
endif()
foreach(_l IN LISTS _kairos_libs)
  install(FILES $<TARGET_FILE:${_l}> DESTINATION ${CMAKE_INSTALL_LIBDIR}/kairos COMPONENT runtime)
endforeach()
foreach(_d actors gpu scheduler)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_d}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kairos/${_d}
          COMPONENT runtime FILES_MATCHING PATTERN "*.hpp" PATTERN "cuda" EXCLUDE)
endforeach()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/kairos/configs COMPONENT runtime)

set(KAIROS_INSTALL_LIBS ${_kairos_libs})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/kairosConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/kairosConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kairos
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_DATADIR)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/kairosConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/kairosConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/kairosConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kairos COMPONENT runtime)
