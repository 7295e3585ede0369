#!/usr/bin/env python3
# Record QEMU's view of one CPU model (tests/data/cpuid/README).
import sys, json, subprocess
model = sys.argv[1]
req = ('{"execute":"qmp_capabilities"}\n{"execute":"query-cpu-model-expansion",'
       '"arguments":{"type":"full","model":{"name":"%s"}}}\n{"execute":"quit"}\n' % model)
out = subprocess.run(["qemu-system-x86_64", "-machine", "none", "-accel", "tcg", "-nodefaults",
                      "-nographic", "-qmp", "stdio"], input=req.encode(), capture_output=True,
                     timeout=60).stdout.decode()
for l in out.splitlines():
    d = json.loads(l)
    r = d.get("return")
    if isinstance(r, dict) and "model" in r:
        p = r["model"]["props"]
        for k in ("vendor", "family", "model", "stepping", "model-id", "level", "xlevel"):
            print("%s=%s" % (k, p[k]))
        for k in sorted(k for k, v in p.items() if v is True):
            print("+" + k)
