# dist/install.cmake: installs what runs lienthong as a system service
# (docs/operations.md). With the /usr prefix, files go where the system's
# systemd looks (pkg-config systemd); with another prefix, under it.
find_package(PkgConfig REQUIRED)
set(_unit lib/systemd/system)
set(_tmpfiles lib/tmpfiles.d)
set(_sysusers lib/sysusers.d)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  pkg_get_variable(_pc_unit systemd systemdsystemunitdir)
  pkg_get_variable(_pc_tmpfiles systemd tmpfilesdir)
  pkg_get_variable(_pc_sysusers systemd sysusersdir)
  foreach(v unit tmpfiles sysusers)
    if(_pc_${v})
      set(_${v} ${_pc_${v}})
    endif()
  endforeach()
endif()
set(LT_SYSTEMD_UNITDIR ${_unit} CACHE PATH "systemd system unit directory")
set(LT_TMPFILESDIR ${_tmpfiles} CACHE PATH "tmpfiles.d directory")
set(LT_SYSUSERSDIR ${_sysusers} CACHE PATH "sysusers.d directory")

install(FILES ${CMAKE_CURRENT_LIST_DIR}/systemd/lienthong-gateway.service
              ${CMAKE_CURRENT_LIST_DIR}/systemd/lienthong-api.service
              ${CMAKE_CURRENT_LIST_DIR}/systemd/lienthong-source@.service
              ${CMAKE_CURRENT_LIST_DIR}/systemd/lienthong-sink@.service
        DESTINATION ${LT_SYSTEMD_UNITDIR})
install(FILES ${CMAKE_CURRENT_LIST_DIR}/lienthong.tmpfiles DESTINATION ${LT_TMPFILESDIR}
        RENAME lienthong.conf)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/lienthong.sysusers DESTINATION ${LT_SYSUSERSDIR}
        RENAME lienthong.conf)
# The rotation of the API's audit_file (docs/operations.md, "Rotating the
# API's audit file"); a conffile in the package, as everything under /etc.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/lienthong-api.logrotate
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d RENAME lienthong-api)
# Commented examples; an operator copies them into /etc/lienthong.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/examples/gateway.conf
              ${CMAKE_CURRENT_LIST_DIR}/examples/source.conf
              ${CMAKE_CURRENT_LIST_DIR}/examples/sink.conf
              ${CMAKE_CURRENT_LIST_DIR}/examples/directory.conf
              ${CMAKE_CURRENT_LIST_DIR}/examples/api.conf
              ${CMAKE_CURRENT_LIST_DIR}/examples/import.conf
        DESTINATION ${CMAKE_INSTALL_DATADIR}/lienthong/examples)
# Alerting rules for Prometheus (docs/operations.md, "Metrics reference").
install(FILES ${CMAKE_CURRENT_LIST_DIR}/prometheus/lienthong-alerts.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/lienthong/examples)
# Configuration and state directories (owners and modes come from the
# tmpfiles.d entry; /run/lienthong is created at boot by it and by the
# units' RuntimeDirectory=, never shipped).
install(DIRECTORY DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/lienthong)
install(DIRECTORY DESTINATION ${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/lienthong)
