{
  "targets": [
    {
      "target_name": "cgfreeze",
      "sources": [
        "native/addon.cc",
        "native/cgroup_handle.cc",
        "native/peer_cred.cc",
        "native/sys_error.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
      "ldflags": ["-Wl,-z,relro,-z,now"]
    }
  ]
}
