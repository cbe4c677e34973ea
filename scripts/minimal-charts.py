#!/usr/bin/env python3
"""Writes N minimal charts into OUT once (Chart.yaml as `helm create` writes it, values.yaml, one
ConfigMap template), named bench-chart-NNNN-1.0.V.tgz, 20 versions per name; existing files are
kept. Shared by scripts/heap-profile.sh and scripts/tenant-profile.sh.

Usage: scripts/minimal-charts.py OUT N
"""
import io, tarfile, gzip, os, sys
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
tmpl = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: b\n"
for i in range(n):
    name, ver = "bench-chart-%04d" % (i // 20), "1.0.%d" % (i % 20)
    path = os.path.join(out, f"{name}-{ver}.tgz")
    if os.path.exists(path):
        continue
    cy = (f"apiVersion: v2\nname: {name}\ndescription: A Helm chart for Kubernetes\ntype: application\n"
          f"version: {ver}\nappVersion: \"1.16.0\"\n").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for p, data in ((f"{name}/Chart.yaml", cy), (f"{name}/values.yaml", b"replicaCount: 1\n"),
                        (f"{name}/templates/cm.yaml", tmpl)):
            ti = tarfile.TarInfo(p); ti.size = len(data); ti.mode = 0o644; ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(gzip.compress(buf.getvalue(), 6, mtime=0))
