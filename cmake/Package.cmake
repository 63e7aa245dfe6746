# The Debian package (scripts/package.sh builds it): install rules in the package's layout and
# CPack's DEB generator. CPack rather than debhelper: the build is CMake already, CPack computes
# Depends from the linked shared libraries with dpkg-shlibdeps and packs from the same build
# tree in one step, without a debian/ source tree or a second build of the test suites.
# Configure with CMAKE_INSTALL_PREFIX=/usr, so that GNUInstallDirs puts the settings in /etc.
include(GNUInstallDirs)
set(INGESTD_PACKAGING "${CMAKE_CURRENT_SOURCE_DIR}/packaging")

install(TARGETS ingestd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The demo's simulator, private to the package.
if(TARGET upstream-sim)
  install(TARGETS upstream-sim RUNTIME DESTINATION lib/ingestd)
endif()
install(FILES config/ingestd.service DESTINATION /lib/systemd/system)
install(FILES .env.example DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/ingestd
        RENAME ingestd.env PERMISSIONS OWNER_READ OWNER_WRITE)
# The dashboard's charts: a relative link to Debian's libjs-chart.js (a dependency), where the
# server looks first.
file(MAKE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/package")
file(CREATE_LINK ../../javascript/chart.js/chart.min.js
     "${CMAKE_CURRENT_BINARY_DIR}/package/chart.min.js" SYMBOLIC)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/package/chart.min.js"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/ingestd/assets)
# Debian wants the changelog and the man page compressed without a timestamp (gzip -n).
foreach(doc changelog ingestd.8)
  execute_process(COMMAND gzip -9nc "${INGESTD_PACKAGING}/${doc}"
                  OUTPUT_FILE "${CMAKE_CURRENT_BINARY_DIR}/package/${doc}.gz"
                  COMMAND_ERROR_IS_FATAL ANY)
endforeach()
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/package/ingestd.8.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES "${INGESTD_PACKAGING}/lintian-overrides" DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
        RENAME ingestd)
# Source profiles: the contract's, and one example per pagination type (docs/PROFILES.md).
file(GLOB INGESTD_PROFILES "${CMAKE_CURRENT_SOURCE_DIR}/config/profiles/*.yaml"
     "${CMAKE_CURRENT_SOURCE_DIR}/tests/profiles/*.yaml")
install(FILES ${INGESTD_PROFILES} DESTINATION ${CMAKE_INSTALL_DATADIR}/ingestd/profiles)
install(FILES README.md docs/API.md docs/PROFILES.md docs/RELIABILITY.md docs/openapi.yaml
              "${INGESTD_PACKAGING}/copyright" "${CMAKE_CURRENT_BINARY_DIR}/package/changelog.gz"
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ingestd)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# .example (RFC 2606): the project has no mailing address of its own yet.
set(CPACK_PACKAGE_CONTACT "ingestd maintainers <maintainers@ingestd.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "events API to PostgreSQL ingestion daemon")
# The extended description; CPack puts the summary above it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "ingestd copies a rate-limited, paged events API into PostgreSQL exactly
once, pacing itself by the server's rate headers, and survives kill -9 at
any instant. It then submits every event ID and serves per-user and global
time-bucket counts, push ingest and a dashboard.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libjs-chart.js")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${INGESTD_PACKAGING}/postinst;${INGESTD_PACKAGING}/prerm;${INGESTD_PACKAGING}/postrm;${INGESTD_PACKAGING}/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
include(CPack)
