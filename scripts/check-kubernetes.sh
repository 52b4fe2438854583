#!/usr/bin/env bash
# Checks the Kubernetes example (deploy/kubernetes/):
#   1. prometheusrule.yaml is what scripts/gen-k8s-rules.py makes of alerts/*.yml today.
#   2. The core kinds (ConfigMap, Secret, Service, StatefulSet) validate with kubernetes-validate
#      (PyPI, pinned, in a cached venv) in strict mode (unknown fields are errors) against
#      Kubernetes 1.28 (the first with the apps.kubernetes.io/pod-index label) and the newest
#      schemas it ships; and a copy with a misspelt field is refused, so the validator is known to
#      be looking.
#   3. The rule groups inside the PrometheusRule pass `promtool check rules`.
#   4. The pieces agree: the StatefulSet's replicas equal [shard] count of the ConfigMap's
#      config, every password_file lies in the Secret's mount, the ports match.
# Needs python3 with venv and PyYAML, promtool (scripts/deps.sh installs them) and PyPI.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
k8s=$root/deploy/kubernetes
version=1.37.0
venv=${K8S_VALIDATE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pg_replication_exporter/kubernetes-validate-$version}
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$version"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "check-kubernetes: prometheusrule.yaml is generated from alerts/"
python3 "$root/scripts/gen-k8s-rules.py" --check

core=(configmap.yaml secret.yaml service.yaml statefulset.yaml)
for k in 1.28.0 "$version"; do
    echo "check-kubernetes: kubernetes-validate --strict -k $k: ${core[*]}"
    (cd "$k8s" && "$venv/bin/kubernetes-validate" --strict --quiet -k "$k" "${core[@]}")
done
sed 's/^\(\s*\)serviceName:/\1servicename:/' "$k8s/statefulset.yaml" >"$tmp/misspelt.yaml"
if "$venv/bin/kubernetes-validate" --strict --quiet "$tmp/misspelt.yaml" >"$tmp/misspelt.out" 2>&1; then
    echo "check-kubernetes: kubernetes-validate accepted a StatefulSet with a misspelt field" >&2
    exit 1
fi

echo "check-kubernetes: promtool check rules on the PrometheusRule's groups"
python3 - "$k8s/prometheusrule.yaml" "$tmp/rules.yml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert doc["kind"] == "PrometheusRule", doc["kind"]
yaml.safe_dump({"groups": doc["spec"]["groups"]}, open(sys.argv[2], "w"), sort_keys=False)
PY
promtool check rules "$tmp/rules.yml"

echo "check-kubernetes: the manifests agree with each other"
python3 - "$k8s" <<'PY'
import pathlib, sys, tomllib, yaml
d = pathlib.Path(sys.argv[1])
load = lambda f: yaml.safe_load((d / f).read_text())
cm, sts, svc, sec, sm = (load(f) for f in
    ("configmap.yaml", "statefulset.yaml", "service.yaml", "secret.yaml", "servicemonitor.yaml"))
config = tomllib.loads(cm["data"]["config.toml"])
pod = sts["spec"]["template"]["spec"]
c = pod["containers"][0]
problems = []
if sts["spec"]["replicas"] != config["shard"]["count"]:
    problems.append(f"replicas {sts['spec']['replicas']} != [shard] count {config['shard']['count']}")
env = {e["name"]: e for e in c["env"]}
ref = env.get("PG_REPLICATION_EXPORTER_SHARD__INDEX", {}).get("valueFrom", {}).get("fieldRef", {})
if ref.get("fieldPath") != "metadata.labels['apps.kubernetes.io/pod-index']":
    problems.append("the shard index does not come from the pod-index label")
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
secret_dir = next(mounts[n] for n, v in vols.items() if v.get("secret", {}).get("secretName") == sec["metadata"]["name"])
for cl in config["cluster"]:
    pf = cl.get("password_file")
    if pf and not (pf.startswith(secret_dir + "/") and pf[len(secret_dir) + 1:] in sec["stringData"]):
        problems.append(f"cluster {cl['name']}: password_file {pf} is not a key of the Secret mounted at {secret_dir}")
listen = int(config["web"]["listen_address"].rsplit(":", 1)[1])
if c["ports"][0]["containerPort"] != listen:
    problems.append(f"containerPort {c['ports'][0]['containerPort']} != listen_address port {listen}")
if c["args"] != [f"--config.file={mounts['config']}"]:
    problems.append(f"args {c['args']} do not name the mounted config {mounts['config']}")
if sts["spec"]["serviceName"] != svc["metadata"]["name"] or svc["spec"].get("clusterIP") != "None":
    problems.append("the StatefulSet's serviceName is not the headless Service")
if sm["spec"]["endpoints"][0]["port"] not in {p["name"] for p in svc["spec"]["ports"]}:
    problems.append("the ServiceMonitor's port is not a port of the Service")
sc = c["securityContext"]
if not (pod["securityContext"].get("runAsNonRoot") and sc.get("readOnlyRootFilesystem")
        and sc.get("allowPrivilegeEscalation") is False and sc.get("capabilities", {}).get("drop") == ["ALL"]):
    problems.append("the container is not hardened (non-root, read-only root, no escalation, no capabilities)")
for p in problems:
    print("check-kubernetes:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
echo "check-kubernetes: ok"
