# FindSOCI
# --------
# Debian's libsoci-dev ships headers and libraries but no CMake package configuration.
# Provides the imported targets SOCI::core and SOCI::postgresql.

find_path(SOCI_INCLUDE_DIR NAMES soci/soci.h)
find_library(SOCI_CORE_LIBRARY NAMES soci_core)
find_library(SOCI_POSTGRESQL_LIBRARY NAMES soci_postgresql)

set(SOCI_VERSION "")
if(SOCI_INCLUDE_DIR AND EXISTS "${SOCI_INCLUDE_DIR}/soci/version.h")
  file(STRINGS "${SOCI_INCLUDE_DIR}/soci/version.h" _soci_version_line REGEX "^#define SOCI_LIB_VERSION \"[0-9_]+\"")
  string(REGEX REPLACE ".*\"([0-9_]+)\".*" "\\1" SOCI_VERSION "${_soci_version_line}")
  string(REPLACE "_" "." SOCI_VERSION "${SOCI_VERSION}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SOCI
  REQUIRED_VARS SOCI_CORE_LIBRARY SOCI_POSTGRESQL_LIBRARY SOCI_INCLUDE_DIR
  VERSION_VAR SOCI_VERSION)

if(SOCI_FOUND)
  find_package(PostgreSQL REQUIRED)
  # Debian builds SOCI with SOCI_HAVE_BOOST: its headers include Boost.Fusion.
  find_package(Boost REQUIRED)
  if(NOT TARGET SOCI::core)
    add_library(SOCI::core UNKNOWN IMPORTED)
    set_target_properties(SOCI::core PROPERTIES
      IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "Boost::headers;${CMAKE_DL_LIBS}")
  endif()
  if(NOT TARGET SOCI::postgresql)
    add_library(SOCI::postgresql UNKNOWN IMPORTED)
    set_target_properties(SOCI::postgresql PROPERTIES
      IMPORTED_LOCATION "${SOCI_POSTGRESQL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "SOCI::core;PostgreSQL::PostgreSQL")
  endif()
endif()

mark_as_advanced(SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY SOCI_POSTGRESQL_LIBRARY)
