{
  "variables": {
    # 1 when scripts/build-native.mjs found that the compiler links static PIE executables: the
    # shepherd (exec'd once per node) and the launcher then skip the dynamic loader's start.
    # Unset (a plain node-gyp run, the sanitizer build): dynamic.
    "static_native%": "<!(node -p \"process.env.DROVER_STATIC_NATIVE === '1' ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "drover_native",
      "sources": ["src/addon.cc", "src/peer-cred.cc", "src/memory.cc", "src/process-limits.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "../shepherd"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-fstack-protector-strong"]
    },
    {
      "target_name": "shepherd",
      "type": "executable",
      "sources": ["../shepherd/src/shepherd.c", "../shepherd/src/start-child.c", "../shepherd/src/spawn-request.c"],
      "include_dirs": ["../shepherd"],
      "cflags!": ["-fno-exceptions"],
      "cflags_c": ["-std=gnu99", "-Wall", "-Wextra", "-Werror", "-pedantic-errors", "-O2", "-fstack-protector-strong"],
      "ldflags": ["-Wl,-z,relro,-z,now"],
      "conditions": [["static_native==1", { "cflags_c": ["-fPIE"], "ldflags": ["-static-pie"] }]]
    },
    {
      "target_name": "launcher",
      "type": "executable",
      "sources": ["../shepherd/src/launcher.c"],
      "include_dirs": ["../shepherd"],
      "cflags!": ["-fno-exceptions"],
      "cflags_c": ["-std=gnu99", "-Wall", "-Wextra", "-Werror", "-pedantic-errors", "-O2", "-fstack-protector-strong"],
      "ldflags": ["-Wl,-z,relro,-z,now"],
      "conditions": [["static_native==1", { "cflags_c": ["-fPIE"], "ldflags": ["-static-pie"] }]]
    }
  ]
}
