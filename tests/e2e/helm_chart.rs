//! The Chartroom Helm chart (`helm-chart/`) with real Helm 3.17 and Helm 4.1: `helm lint --strict`,
//! rendered objects for several value sets (parsed as YAML, not grepped; tenants and
//! authentication from existing Secrets among them), the replica rules that
//! must fail rendering, the install notes, and the dogfood round trip (the chart is packaged,
//! uploaded to a running Chartroom, and rendered from it by both Helm clients).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

/// S3 storage, three replicas and an HPA (plus one chart-managed secret variable and one mapped
/// from an existing Secret).
const S3_VALUES: &str = "\
replicaCount: 3
storage:
  type: amazon
  amazon:
    bucket: team-charts
    prefix: prod
    region: eu-west-1
    sse: AES256
    existingSecret: chartroom-s3
autoscaling:
  enabled: true
  minReplicas: 3
  maxReplicas: 6
env:
  secret:
    BASIC_AUTH_PASS: hunter2
  existingSecret: chartroom-auth
  existingSecretMappings:
    BASIC_AUTH_USER: user
";

/// An ingress with TLS.
const INGRESS_VALUES: &str = "\
ingress:
  enabled: true
  className: nginx
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: 20m
  hosts:
    - host: charts.example.com
      paths:
        - path: /
          pathType: Prefix
  tls:
    - secretName: charts-example-tls
      hosts:
        - charts.example.com
";

/// Local storage (the default) with two replicas: must not render.
const LOCAL_TWO_REPLICAS: &str = "replicaCount: 2\n";

const RWO_MESSAGE: &str = "chartroom: local storage on a ReadWriteOnce volume supports one replica; \
                           use storage.type=amazon|google|microsoft for several replicas (replicaCount=2)";

fn chart_dir() -> PathBuf {
    workspace_dir().join("helm-chart")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Writes a values file into this Helm's scratch folder.
fn values_file(helm: &Helm, name: &str, yaml: &str) -> PathBuf {
    let path = helm.work_dir("values").join(name);
    std::fs::write(&path, yaml).expect("write values file");
    path
}

/// The objects of one `helm template` run.
struct Rendered {
    label: String,
    docs: Vec<Value>,
}

impl Rendered {
    fn parse(label: String, text: &str) -> Rendered {
        let docs: Vec<Value> = serde_saphyr::from_multiple::<Value>(text)
            .unwrap_or_else(|e| panic!("{label}: rendered output is not YAML ({e}):\n{text}"));
        let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
        for d in &docs {
            assert!(
                d.get("kind").and_then(Value::as_str).is_some() && d.pointer("/metadata/name").is_some(),
                "{label}: document without kind or name: {d}"
            );
        }
        Rendered { label, docs }
    }

    /// `Kind/name` of every object, sorted.
    fn kinds(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.docs.iter().map(|d| format!("{}/{}", s(d, "/kind"), s(d, "/metadata/name"))).collect();
        v.sort();
        v
    }

    fn find(&self, kind: &str) -> Option<&Value> {
        let mut it = self.docs.iter().filter(|d| d.get("kind").and_then(Value::as_str) == Some(kind));
        let first = it.next();
        assert!(it.next().is_none(), "{}: more than one {kind}", self.label);
        first
    }

    #[track_caller]
    fn get(&self, kind: &str) -> &Value {
        self.find(kind).unwrap_or_else(|| panic!("{}: no {kind} rendered; objects: {:?}", self.label, self.kinds()))
    }

    #[track_caller]
    fn container(&self) -> &Value {
        let c = at(self.get("Deployment"), "/spec/template/spec/containers");
        let list = c.as_array().expect("containers is a list");
        assert_eq!(list.len(), 1, "{}: one container expected", self.label);
        &list[0]
    }

    /// Container env entries by name (asserting names are unique).
    fn env(&self) -> BTreeMap<String, Value> {
        let mut m = BTreeMap::new();
        for e in at(self.container(), "/env").as_array().expect("env is a list") {
            let name = s(e, "/name").to_owned();
            assert!(m.insert(name.clone(), e.clone()).is_none(), "{}: env {name} appears twice", self.label);
        }
        m
    }

    /// The plain value of env `name` (None when absent; panics when it comes from a reference).
    fn env_value(&self, name: &str) -> Option<String> {
        self.env().get(name).map(|e| {
            e.get("value")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{}: env {name} has no plain string value: {e}", self.label))
                .to_owned()
        })
    }
}

/// The value at a JSON pointer, or a panic naming it.
#[track_caller]
fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or_else(|| panic!("{pointer} missing in {}", truncate(&v.to_string(), 4000)))
}

/// The string at a JSON pointer.
#[track_caller]
fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    at(v, pointer).as_str().unwrap_or_else(|| panic!("{pointer} is not a string: {}", at(v, pointer)))
}

/// `helm template rel <chart> --namespace charts [-f values...] [--set sets...]`, parsed.
#[track_caller]
fn template(helm: &Helm, chart: &str, values: &[&Path], sets: &[&str]) -> Rendered {
    let mut args = vec!["template", "rel", chart, "--namespace", "charts"];
    for v in values {
        args.extend(["-f", p(v)]);
    }
    for s in sets {
        args.extend(["--set", s]);
    }
    template_args(helm, &args)
}

/// Runs Helm with `args` (a `template` command), asserts success, parses stdout.
#[track_caller]
fn template_args(helm: &Helm, args: &[&str]) -> Rendered {
    let out = helm.output_in(None, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}\n{}",
        helm.label(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    Rendered::parse(format!("{} {args:?}", helm.label()), &stdout)
}

/// `helm template` that must fail; returns stdout + stderr.
#[track_caller]
fn template_fails(helm: &Helm, values: &[&Path], sets: &[&str]) -> String {
    let chart = chart_dir();
    let mut args = vec!["template", "rel", p(&chart)];
    for v in values {
        args.extend(["-f", p(v)]);
    }
    for s in sets {
        args.extend(["--set", s]);
    }
    helm.run_fail(&args)
}

/// Probes, security context, image and port that every value set shares.
#[track_caller]
fn assert_hardened_pod(r: &Rendered, health_path: &str) {
    let ready_path = format!("{health_path}/ready");
    let c = r.container();
    let label = &r.label;
    assert_eq!(s(c, "/image"), "chartroom:0.1.0", "{label}: image tag defaults to appVersion");
    assert_eq!(at(c, "/args"), &json!(["serve"]), "{label}: container args");
    assert_eq!(at(c, "/ports"), &json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}]), "{label}");
    for (probe, path) in
        [("livenessProbe", health_path), ("startupProbe", health_path), ("readinessProbe", ready_path.as_str())]
    {
        assert_eq!(
            at(c, &format!("/{probe}/httpGet")),
            &json!({"path": path, "port": "http"}),
            "{label}: {probe} must GET {path} on the http port"
        );
    }
    assert_eq!(at(c, "/securityContext/readOnlyRootFilesystem"), &json!(true), "{label}");
    assert_eq!(at(c, "/securityContext/allowPrivilegeEscalation"), &json!(false), "{label}");
    assert_eq!(at(c, "/securityContext/capabilities/drop"), &json!(["ALL"]), "{label}");
    let pod = at(r.get("Deployment"), "/spec/template/spec");
    for (k, v) in [
        ("runAsNonRoot", json!(true)),
        ("runAsUser", json!(65532)),
        ("runAsGroup", json!(65532)),
        ("fsGroup", json!(65532)),
    ] {
        assert_eq!(at(pod, &format!("/securityContext/{k}")), &v, "{label}: pod securityContext.{k}");
    }
    assert_eq!(s(pod, "/securityContext/seccompProfile/type"), "RuntimeDefault", "{label}");
    assert_eq!(at(pod, "/automountServiceAccountToken"), &json!(false), "{label}");
    assert_eq!(s(pod, "/serviceAccountName"), "rel-chartroom", "{label}");
    // A read-only root filesystem still gets a writable /tmp.
    assert!(
        at(c, "/volumeMounts").as_array().expect("mounts").iter().any(|m| m["mountPath"] == "/tmp"),
        "{label}: /tmp must be mounted"
    );
    assert_eq!(r.env_value("PORT").as_deref(), Some("8080"), "{label}: PORT");
    // The Service selects exactly the Deployment's pods, on the http port.
    let svc = r.get("Service");
    assert_eq!(at(svc, "/spec/selector"), at(r.get("Deployment"), "/spec/selector/matchLabels"), "{label}");
    assert_eq!(at(svc, "/spec/ports/0/port"), &json!(8080), "{label}: Service port");
    assert_eq!(s(svc, "/spec/ports/0/targetPort"), "http", "{label}: Service targetPort");
}

// ---------------------------------------------------------------------------------------------
// Lint
// ---------------------------------------------------------------------------------------------

#[test]
fn chart_lints_strict_with_both_helms() {
    let chart = chart_dir();
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        let s3 = values_file(&helm, "s3.yaml", S3_VALUES);
        let ingress = values_file(&helm, "ingress.yaml", INGRESS_VALUES);
        for extra in [None, Some(&s3), Some(&ingress)] {
            let mut args = vec!["lint", "--strict", p(&chart)];
            if let Some(f) = extra {
                args.extend(["-f", p(f)]);
            }
            let out = helm.run(&args);
            assert!(out.contains("1 chart(s) linted, 0 chart(s) failed"), "{} {args:?}: {out}", helm.label());
            assert!(!out.contains("[WARNING]") && !out.contains("[ERROR]"), "{} {args:?}: {out}", helm.label());
        }
        // Lint renders the templates too. Helm treats a template `fail` as information in lint
        // (values may be completed at install time), so lint reports the rule without failing;
        // `helm template`/`install` fail (see `local_storage_with_two_replicas_fails_to_render`).
        let two = values_file(&helm, "two.yaml", LOCAL_TWO_REPLICAS);
        let out = helm.output_in(None, &["lint", "--strict", p(&chart), "-f", p(&two)]);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(RWO_MESSAGE), "{}: lint with two local replicas: {text}", helm.label());
    }
}

// ---------------------------------------------------------------------------------------------
// Value sets
// ---------------------------------------------------------------------------------------------

/// (1) Defaults: one replica on an 8Gi ReadWriteOnce claim mounted at /data, Recreate strategy.
#[test]
fn defaults_render_one_hardened_replica_on_a_persistent_volume() {
    let chart = chart_dir();
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        let r = template(&helm, p(&chart), &[], &[]);
        let label = r.label.clone();
        assert_eq!(
            r.kinds(),
            [
                "Deployment/rel-chartroom",
                "PersistentVolumeClaim/rel-chartroom",
                "Pod/rel-chartroom-test-connection",
                "Service/rel-chartroom",
                "ServiceAccount/rel-chartroom",
            ],
            "{label}: objects rendered by default"
        );
        let d = r.get("Deployment");
        assert_eq!(s(d, "/apiVersion"), "apps/v1");
        assert_eq!(at(d, "/spec/replicas"), &json!(1), "{label}: replicas");
        assert_eq!(at(d, "/spec/strategy"), &json!({"type": "Recreate"}), "{label}: strategy");
        assert_hardened_pod(&r, "/health");
        assert_eq!(r.env_value("STORAGE").as_deref(), Some("local"), "{label}");
        assert_eq!(r.env_value("STORAGE_LOCAL_ROOTDIR").as_deref(), Some("/data"), "{label}");
        // Whole numbers stay integers (Helm reads them as float64).
        assert_eq!(r.env_value("MAX_UPLOAD_SIZE").as_deref(), Some("20971520"), "{label}");
        assert_eq!(r.env_value("CONTEXT_PATH"), None, "{label}: no context path by default");
        assert!(!r.env().keys().any(|k| k.starts_with("STORAGE_AMAZON") || k.starts_with("AWS_")), "{label}");

        let pvc = r.get("PersistentVolumeClaim");
        assert_eq!(at(pvc, "/spec/accessModes"), &json!(["ReadWriteOnce"]), "{label}");
        assert_eq!(s(pvc, "/spec/resources/requests/storage"), "8Gi", "{label}");
        assert!(pvc.pointer("/spec/storageClassName").is_none(), "{label}: cluster default storage class");
        let mounts = at(r.container(), "/volumeMounts").as_array().expect("mounts");
        let data = mounts.iter().find(|m| m["mountPath"] == "/data").expect("a mount at /data");
        let volumes = at(d, "/spec/template/spec/volumes").as_array().expect("volumes");
        let vol = volumes.iter().find(|v| v["name"] == data["name"]).expect("the /data volume");
        assert_eq!(at(vol, "/persistentVolumeClaim/claimName"), "rel-chartroom", "{label}: /data is the PVC");

        let test_pod = r.get("Pod");
        assert_eq!(s(test_pod, "/metadata/annotations/helm.sh~1hook"), "test", "{label}");
        assert_eq!(s(test_pod, "/spec/containers/0/env/0/value"), "http://rel-chartroom:8080/health", "{label}");

        // One replica on emptyDir is allowed (and is an emptyDir, not a claim).
        let r = template(&helm, p(&chart), &[], &["persistence.enabled=false"]);
        assert!(r.find("PersistentVolumeClaim").is_none(), "{}", r.label);
        let volumes = at(r.get("Deployment"), "/spec/template/spec/volumes").as_array().expect("volumes").clone();
        assert!(volumes.iter().any(|v| v["name"] == "storage-volume" && v.get("emptyDir").is_some()), "{volumes:?}");
    }
}

/// (2) S3 with three replicas and an HPA: object-store env, credentials from the existing
/// Secret, no claim, HPA bounds, a PodDisruptionBudget, rolling updates.
#[test]
fn s3_with_three_replicas_renders_hpa_pdb_and_secret_env() {
    let chart = chart_dir();
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        let s3 = values_file(&helm, "s3.yaml", S3_VALUES);
        let r = template(&helm, p(&chart), &[&s3], &[]);
        let label = r.label.clone();
        assert_eq!(
            r.kinds(),
            [
                "Deployment/rel-chartroom",
                "HorizontalPodAutoscaler/rel-chartroom",
                "Pod/rel-chartroom-test-connection",
                "PodDisruptionBudget/rel-chartroom",
                "Secret/rel-chartroom",
                "Service/rel-chartroom",
                "ServiceAccount/rel-chartroom",
            ],
            "{label}: objects (no PersistentVolumeClaim with S3)"
        );
        assert_hardened_pod(&r, "/health");
        let d = r.get("Deployment");
        assert!(d.pointer("/spec/replicas").is_none(), "{label}: the HPA owns the replica count");
        assert_eq!(s(d, "/spec/strategy/type"), "RollingUpdate", "{label}");
        assert_eq!(at(d, "/spec/strategy/rollingUpdate/maxUnavailable"), &json!(0), "{label}");

        let env = r.env();
        for (k, want) in [
            ("STORAGE", "amazon"),
            ("STORAGE_AMAZON_BUCKET", "team-charts"),
            ("STORAGE_AMAZON_PREFIX", "prod"),
            ("STORAGE_AMAZON_REGION", "eu-west-1"),
            ("STORAGE_AMAZON_SSE", "AES256"),
            // Always rendered, so that `forcePathStyle: false` reaches the server (whose default is true).
            ("STORAGE_AMAZON_FORCE_PATH_STYLE", "true"),
        ] {
            assert_eq!(r.env_value(k).as_deref(), Some(want), "{label}: env {k}");
        }
        for k in ["STORAGE_LOCAL_ROOTDIR", "STORAGE_AMAZON_ENDPOINT"] {
            assert!(!env.contains_key(k), "{label}: {k} must not be set");
        }
        for (k, secret, key) in [
            ("AWS_ACCESS_KEY_ID", "chartroom-s3", "AWS_ACCESS_KEY_ID"),
            ("AWS_SECRET_ACCESS_KEY", "chartroom-s3", "AWS_SECRET_ACCESS_KEY"),
            ("BASIC_AUTH_PASS", "rel-chartroom", "BASIC_AUTH_PASS"),
            ("BASIC_AUTH_USER", "chartroom-auth", "user"),
        ] {
            assert_eq!(
                env.get(k).map(|e| at(e, "/valueFrom/secretKeyRef").clone()),
                Some(json!({"name": secret, "key": key})),
                "{label}: env {k} comes from Secret {secret} key {key}"
            );
        }
        let mounts = at(r.container(), "/volumeMounts").as_array().expect("mounts");
        assert!(!mounts.iter().any(|m| m["mountPath"] == "/data"), "{label}: no data volume with S3");

        // The chart-managed Secret holds env.secret, and the pods roll when it changes.
        let secret = r.get("Secret");
        assert_eq!(at(secret, "/data"), &json!({"BASIC_AUTH_PASS": "aHVudGVyMg=="}), "{label}");
        assert!(d.pointer("/spec/template/metadata/annotations/checksum~1secret").is_some(), "{label}");

        let hpa = r.get("HorizontalPodAutoscaler");
        assert_eq!(s(hpa, "/apiVersion"), "autoscaling/v2", "{label}");
        assert_eq!(
            at(hpa, "/spec/scaleTargetRef"),
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "rel-chartroom"}),
            "{label}"
        );
        assert_eq!(at(hpa, "/spec/minReplicas"), &json!(3), "{label}");
        assert_eq!(at(hpa, "/spec/maxReplicas"), &json!(6), "{label}");
        assert_eq!(at(hpa, "/spec/metrics/0/resource/name"), "cpu", "{label}");
        assert_eq!(at(hpa, "/spec/metrics/0/resource/target/averageUtilization"), &json!(75), "{label}");

        let pdb = r.get("PodDisruptionBudget");
        assert_eq!(s(pdb, "/apiVersion"), "policy/v1", "{label}");
        assert_eq!(at(pdb, "/spec/minAvailable"), &json!(1), "{label}");
        assert_eq!(at(pdb, "/spec/selector/matchLabels"), at(d, "/spec/selector/matchLabels"), "{label}");

        // Without the HPA the Deployment carries the three replicas itself.
        let r = template(&helm, p(&chart), &[&s3], &["autoscaling.enabled=false"]);
        assert_eq!(at(r.get("Deployment"), "/spec/replicas"), &json!(3), "{}", r.label);
        assert!(r.find("HorizontalPodAutoscaler").is_none(), "{}", r.label);
        assert!(r.find("PodDisruptionBudget").is_some(), "{}", r.label);
    }
}

/// (3) Ingress with TLS, and the install notes' `helm repo add` URL.
#[test]
fn ingress_with_tls_and_notes_print_the_repo_url() {
    let chart = chart_dir();
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        let ingress = values_file(&helm, "ingress.yaml", INGRESS_VALUES);
        let r = template(&helm, p(&chart), &[&ingress], &[]);
        let label = r.label.clone();
        assert_hardened_pod(&r, "/health");
        let ing = r.get("Ingress");
        assert_eq!(s(ing, "/apiVersion"), "networking.k8s.io/v1", "{label}");
        assert_eq!(s(ing, "/spec/ingressClassName"), "nginx", "{label}");
        assert_eq!(s(ing, "/metadata/annotations/nginx.ingress.kubernetes.io~1proxy-body-size"), "20m", "{label}");
        assert_eq!(
            at(ing, "/spec/tls"),
            &json!([{"hosts": ["charts.example.com"], "secretName": "charts-example-tls"}]),
            "{label}"
        );
        let rule = at(ing, "/spec/rules/0");
        assert_eq!(s(rule, "/host"), "charts.example.com", "{label}");
        assert_eq!(
            at(rule, "/http/paths/0"),
            &json!({
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": "rel-chartroom", "port": {"number": 8080}}}
            }),
            "{label}"
        );

        // NOTES: `helm template` never prints them. Helm 4 renders them with a client-only dry
        // run without any cluster; Helm 3.17's `install --dry-run=client` still asks the cluster
        // for its version, so there the notes are only rendered (and checked) by `helm lint`.
        if v == HelmVersion::V4 {
            let notes = helm.run(&["install", "--dry-run=client", "rel", p(&chart), "-n", "charts", "-f", p(&ingress)]);
            for want in [
                "helm repo add chartroom https://charts.example.com\n",
                "curl --data-binary @mychart-0.1.0.tgz https://charts.example.com/api/charts",
            ] {
                assert!(notes.contains(want), "{label}: notes lack {want:?}:\n{notes}");
            }
            let notes = helm.run(&["install", "--dry-run=client", "rel", p(&chart), "-n", "charts"]);
            for want in [
                "kubectl --namespace charts port-forward svc/rel-chartroom 8080:8080",
                "helm repo add chartroom http://127.0.0.1:8080\n",
                "curl --data-binary @mychart-0.1.0.tgz http://127.0.0.1:8080/api/charts",
            ] {
                assert!(notes.contains(want), "{label}: default notes lack {want:?}:\n{notes}");
            }
            let notes = helm.run(&[
                "install",
                "--dry-run=client",
                "rel",
                p(&chart),
                "--set",
                "env.open.DISABLE_API=true",
                "--set",
                "env.open.CONTEXT_PATH=/helm",
            ]);
            assert!(notes.contains("helm repo add chartroom http://127.0.0.1:8080/helm\n"), "{notes}");
            assert!(notes.contains("read-only repository") && !notes.contains("curl --data-binary"), "{notes}");
        }
    }
}

/// (4) Local storage with two replicas fails with the clear message (and the variants of the
/// rule: no persistence, an HPA, a RollingUpdate strategy).
#[test]
fn local_storage_with_two_replicas_fails_to_render() {
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        let two = values_file(&helm, "two.yaml", LOCAL_TWO_REPLICAS);
        let out = template_fails(&helm, &[&two], &[]);
        assert!(out.contains(RWO_MESSAGE), "{}: expected {RWO_MESSAGE:?} in:\n{out}", helm.label());

        let out = template_fails(&helm, &[&two], &["persistence.accessMode=ReadWriteOncePod"]);
        assert!(out.contains("local storage on a ReadWriteOncePod volume supports one replica"), "{out}");

        let out = template_fails(&helm, &[&two], &["persistence.enabled=false"]);
        assert!(
            out.contains("chartroom: local storage without persistence supports one replica")
                && out.contains("emptyDir")
                && out.contains("(replicaCount=2)"),
            "{}: {out}",
            helm.label()
        );

        let out = template_fails(&helm, &[], &["autoscaling.enabled=true", "autoscaling.maxReplicas=4"]);
        assert!(
            out.contains("local storage on a ReadWriteOnce volume supports one replica")
                && out.contains("(autoscaling.maxReplicas=4)"),
            "{}: {out}",
            helm.label()
        );

        let out = template_fails(&helm, &[&two], &["persistence.accessMode=ReadWriteMany"]);
        assert!(out.contains("local storage supports one replica, even on a ReadWriteMany volume"), "{out}");

        let out = template_fails(&helm, &[], &["strategy.type=RollingUpdate"]);
        assert!(out.contains("strategy.type=RollingUpdate with local persistent storage"), "{out}");

        // The same two replicas are fine on an object store.
        let chart = chart_dir();
        let r = template(
            &helm,
            p(&chart),
            &[&two],
            &["storage.type=google", "storage.google.bucket=charts", "storage.google.existingSecret=gcs"],
        );
        assert_eq!(at(r.get("Deployment"), "/spec/replicas"), &json!(2), "{}", r.label);
        assert_eq!(r.env_value("STORAGE").as_deref(), Some("google"));
        assert_eq!(r.env_value("STORAGE_GOOGLE_BUCKET").as_deref(), Some("charts"));
        assert_eq!(
            r.env_value("GOOGLE_APPLICATION_CREDENTIALS").as_deref(),
            Some("/var/run/secrets/chartroom/google/credentials.json")
        );
    }
}

/// A context path moves the probes, the test pod and the ServiceMonitor under it.
#[test]
fn context_path_prefixes_probes_and_metrics() {
    let chart = chart_dir();
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        let r = template(&helm, p(&chart), &[], &["env.open.CONTEXT_PATH=charts/", "serviceMonitor.enabled=true"]);
        assert_hardened_pod(&r, "/charts/health");
        assert_eq!(r.env_value("CONTEXT_PATH").as_deref(), Some("/charts"), "{}: normalized", r.label);
        assert_eq!(s(r.get("Pod"), "/spec/containers/0/env/0/value"), "http://rel-chartroom:8080/charts/health");
        let sm = r.get("ServiceMonitor");
        assert_eq!(s(sm, "/apiVersion"), "monitoring.coreos.com/v1");
        assert_eq!(
            at(sm, "/spec/endpoints/0"),
            &json!({"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}),
            "{}: /metrics is outside the context path, as in ChartMuseum",
            r.label
        );
        assert_eq!(r.env_value("ENABLE_METRICS").as_deref(), Some("true"), "{}: scraping turns metrics on", r.label);
    }
}

/// HTTPS from an existing Secret (cert-manager's keys), mTLS probes, metrics.
#[test]
fn tls_from_an_existing_secret_metrics_and_probes() {
    let chart = chart_dir();
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        let r = template(
            &helm,
            p(&chart),
            &[],
            &["tls.enabled=true", "tls.existingSecret=charts-tls", "metrics.enabled=true"],
        );
        assert_eq!(r.env_value("TLS_CERT").as_deref(), Some("/etc/chartroom/tls/tls.crt"), "{}", r.label);
        assert_eq!(r.env_value("TLS_KEY").as_deref(), Some("/etc/chartroom/tls/tls.key"), "{}", r.label);
        assert_eq!(r.env_value("TLS_CA_CERT"), None, "{}", r.label);
        assert_eq!(r.env_value("ENABLE_METRICS").as_deref(), Some("true"), "{}", r.label);
        let c = r.container();
        for (probe, path) in
            [("livenessProbe", "/health"), ("readinessProbe", "/health/ready"), ("startupProbe", "/health")]
        {
            assert_eq!(
                at(c, &format!("/{probe}/httpGet")),
                &json!({"path": path, "port": "http", "scheme": "HTTPS"}),
                "{}: {probe}",
                r.label
            );
        }
        let mounts = at(c, "/volumeMounts").as_array().expect("mounts");
        assert!(
            mounts.iter().any(|m| *m == json!({"name": "tls", "mountPath": "/etc/chartroom/tls", "readOnly": true})),
            "{}: {mounts:?}",
            r.label
        );
        let volumes = at(r.get("Deployment"), "/spec/template/spec/volumes").as_array().expect("volumes");
        assert!(
            volumes.iter().any(|v| v["name"] == "tls" && v["secret"]["secretName"] == "charts-tls"),
            "{}: {volumes:?}",
            r.label
        );
        assert!(r.find("ServiceMonitor").is_none(), "{}: metrics alone render no ServiceMonitor", r.label);
        assert!(s(r.get("Pod"), "/spec/containers/0/env/0/value").starts_with("https://"), "{}", r.label);

        // mTLS: the kubelet has no client certificate, so the probes run `chartroom healthcheck`.
        let r = template(
            &helm,
            p(&chart),
            &[],
            &[
                "tls.enabled=true",
                "tls.existingSecret=charts-tls",
                "tls.clientCAKey=ca.crt",
                "serviceMonitor.enabled=true",
            ],
        );
        assert_eq!(r.env_value("TLS_CA_CERT").as_deref(), Some("/etc/chartroom/tls/ca.crt"), "{}", r.label);
        let c = r.container();
        let probe = |name: &str| at(c, &format!("/{name}/exec/command")).clone();
        let client = ["--cert-file", "/etc/chartroom/tls/probe.crt", "--key-file", "/etc/chartroom/tls/probe.key"];
        let mut ready = vec!["/usr/local/bin/chartroom", "healthcheck", "--ready"];
        ready.extend(client);
        assert_eq!(probe("readinessProbe"), json!(ready), "{}", r.label);
        let mut live = vec!["/usr/local/bin/chartroom", "healthcheck"];
        live.extend(client);
        assert_eq!(probe("livenessProbe"), json!(live), "{}", r.label);
        let sm = r.get("ServiceMonitor");
        assert_eq!(s(sm, "/spec/endpoints/0/scheme"), "https", "{}", r.label);
        assert!(sm.pointer("/spec/endpoints/0/tlsConfig").is_none(), "{}", r.label);

        // Prometheus has no client certificate either: metrics.port scrapes a plain listener.
        let mtls_with = |extra: &[&str]| {
            let mut set = vec![
                "tls.enabled=true",
                "tls.existingSecret=charts-tls",
                "tls.clientCAKey=ca.crt",
                "serviceMonitor.enabled=true",
            ];
            set.extend(extra);
            template(&helm, p(&chart), &[], &set)
        };
        let r = mtls_with(&["metrics.port=9102"]);
        assert_eq!(r.env_value("METRICS_LISTEN").as_deref(), Some("0.0.0.0:9102"), "{}", r.label);
        assert_eq!(
            at(r.container(), "/ports/1"),
            &json!({"name": "metrics", "containerPort": 9102, "protocol": "TCP"}),
            "{}",
            r.label
        );
        assert_eq!(
            at(r.get("Service"), "/spec/ports/1"),
            &json!({"name": "metrics", "port": 9102, "targetPort": "metrics", "protocol": "TCP"}),
            "{}",
            r.label
        );
        let endpoint = at(r.get("ServiceMonitor"), "/spec/endpoints/0");
        assert_eq!(endpoint["port"], "metrics", "{}", r.label);
        assert!(endpoint.get("scheme").is_none(), "plain HTTP: {endpoint}");
        // Without metrics.port, the HTTPS endpoint takes the given tlsConfig.
        let r = mtls_with(&["serviceMonitor.tlsConfig.serverName=charts.example.com"]);
        assert_eq!(r.env_value("METRICS_LISTEN"), None, "{}", r.label);
        assert_eq!(
            at(r.get("ServiceMonitor"), "/spec/endpoints/0/tlsConfig"),
            &json!({"serverName": "charts.example.com"}),
            "{}",
            r.label
        );

        let err = template_fails(&helm, &[], &["tls.enabled=true"]);
        assert!(err.contains("tls.enabled needs tls.existingSecret"), "{}: {err}", helm.label());
    }
}

/// Tenants and authentication from existing Secrets: the variables, the read-only mounts, no
/// secret value in the rendered objects, and the notes telling how to add a tenant.
const AUTH_VALUES: &str = "\
tenancy:
  depth: 2
auth:
  basic:
    existingSecret: cm-admin
    userKey: user
    passwordKey: pass
  anonymousGet: true
  config:
    existingSecret: chartroom-auth
    key: access.yaml
    pollInterval: 30s
  bearer:
    enabled: true
    realm: https://auth.example/token
    service: charts
    existingSecret: issuer-keys
    key: issuer.pem
    actionsSearchPath: \"access[?name=='$NAMESPACE'].actions[]\"
    audience: charts,helm
    issuer: https://issuer.example
";

#[test]
fn tenancy_and_auth_values_render_variables_and_secret_mounts() {
    let chart = chart_dir();
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        let values = values_file(&helm, "auth.yaml", AUTH_VALUES);
        let out = helm.run(&["lint", "--strict", p(&chart), "-f", p(&values)]);
        assert!(!out.contains("[ERROR]"), "{}: {out}", helm.label());
        let r = template(&helm, p(&chart), &[&values], &[]);
        let label = r.label.clone();
        assert_hardened_pod(&r, "/health");
        for (name, want) in [
            ("DEPTH", "2"),
            ("AUTH_ANONYMOUS_GET", "true"),
            ("AUTH_CONFIG", "/etc/chartroom/auth/access.yaml"),
            ("AUTH_CONFIG_POLL_INTERVAL", "30s"),
            ("BEARER_AUTH", "true"),
            ("AUTH_REALM", "https://auth.example/token"),
            ("AUTH_SERVICE", "charts"),
            ("AUTH_CERT_PATH", "/etc/chartroom/jwt/issuer.pem"),
            ("AUTH_ACTIONS_SEARCH_PATH", "access[?name=='$NAMESPACE'].actions[]"),
            ("AUTH_AUDIENCE", "charts,helm"),
            ("AUTH_ISSUER", "https://issuer.example"),
        ] {
            assert_eq!(r.env_value(name).as_deref(), Some(want), "{label}: {name}");
        }
        assert_eq!(r.env_value("DEPTH_DYNAMIC"), None, "{label}");
        let env = r.env();
        for (name, key) in [("BASIC_AUTH_USER", "user"), ("BASIC_AUTH_PASS", "pass")] {
            assert_eq!(
                at(&env[name], "/valueFrom/secretKeyRef"),
                &json!({"name": "cm-admin", "key": key}),
                "{label}: {name} comes from the existing Secret"
            );
        }
        let mounts = at(r.container(), "/volumeMounts").as_array().expect("mounts").clone();
        for (volume, path) in [("auth-config", "/etc/chartroom/auth"), ("jwt-keys", "/etc/chartroom/jwt")] {
            assert!(
                mounts.iter().any(|m| m["name"] == volume && m["mountPath"] == path && m["readOnly"] == true),
                "{label}: {volume} mounted read-only at {path}: {mounts:?}"
            );
        }
        let volumes = at(r.get("Deployment"), "/spec/template/spec/volumes").as_array().expect("volumes").clone();
        for (volume, secret) in [("auth-config", "chartroom-auth"), ("jwt-keys", "issuer-keys")] {
            let found = volumes.iter().find(|v| v["name"] == volume).unwrap_or_else(|| panic!("{label}: no {volume}"));
            assert_eq!(at(found, "/secret/secretName"), &json!(secret), "{label}: {volume}");
        }
        assert!(r.find("Secret").is_none(), "{label}: no chart-managed Secret: every secret is an existing one");

        let dynamic = template(&helm, p(&chart), &[], &["tenancy.dynamic=true", "tenancy.depth=3"]);
        assert_eq!(dynamic.env_value("DEPTH_DYNAMIC").as_deref(), Some("true"), "{label}");
        assert_eq!(dynamic.env_value("DEPTH"), None, "{label}: dynamic wins, as in the server");
        let plain = template(&helm, p(&chart), &[], &[]);
        for name in ["DEPTH", "DEPTH_DYNAMIC", "AUTH_CONFIG", "BEARER_AUTH", "BASIC_AUTH_USER", "AUTH_ANONYMOUS_GET"] {
            assert!(!plain.env().contains_key(name), "{label}: {name} is not set by default");
        }

        for (sets, want) in [
            (&["auth.bearer.enabled=true"][..], "auth.bearer.enabled needs auth.bearer.realm"),
            (&["auth.bearer.enabled=true", "auth.bearer.realm=r"][..], "needs auth.bearer.service"),
            (
                &["auth.bearer.enabled=true", "auth.bearer.realm=r", "auth.bearer.service=s"][..],
                "needs auth.bearer.existingSecret",
            ),
            (&["tenancy.depth=1", "env.open.DEPTH=2"][..], "env.open.DEPTH and tenancy.* both set"),
            (
                &["auth.basic.existingSecret=a", "env.secret.BASIC_AUTH_PASS=x"][..],
                "BASIC_AUTH_PASS is set both by auth.* and by env.*",
            ),
            (&["tenancy.depth=17"][..], "depth"),
            (&["tenancy.depth=-1"][..], "depth"),
            (&["auth.anonymousGet=maybe"][..], "anonymousGet"),
            (&["auth.config.pollInterval=often"][..], "pollInterval"),
        ] {
            let out = template_fails(&helm, &[], sets);
            assert!(out.contains(want), "{} {sets:?}: expected {want:?}:\n{out}", helm.label());
        }

        if v == HelmVersion::V4 {
            let notes = helm.run(&["install", "--dry-run=client", "rel", p(&chart), "-n", "charts", "-f", p(&values)]);
            for want in [
                "helm repo add <tenant> http://127.0.0.1:8080/<tenant> --username <user> --password <password>\n",
                "curl -u <user>:<password> --data-binary @mychart-0.1.0.tgz http://127.0.0.1:8080/api/<tenant>/charts",
                "http://127.0.0.1:8080/api/tenants lists the tenants",
            ] {
                assert!(notes.contains(want), "{label}: notes lack {want:?}:\n{notes}");
            }
            assert!(!notes.contains("WARNING: anyone"), "{label}: {notes}");
        }
    }
}

/// values.schema.json rejects wrong enums and types; env.open.STORAGE must agree with storage.type.
#[test]
fn schema_and_storage_checks_reject_bad_values() {
    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        for (set, want) in [
            ("storage.type=s3", "storage"),
            ("service.type=Internal", "service"),
            ("persistence.accessMode=RWO", "accessMode"),
            ("replicaCount=-1", "replicaCount"),
            ("image.pullPolicy=Sometimes", "pullPolicy"),
        ] {
            let out = template_fails(&helm, &[], &[set]);
            assert!(out.contains(want), "{} --set {set}: expected a schema error naming {want}:\n{out}", helm.label());
        }
        let out = template_fails(&helm, &[], &["env.open.STORAGE=amazon"]);
        assert!(out.contains("env.open.STORAGE=amazon conflicts with storage.type=local"), "{out}");
        let out = template_fails(&helm, &[], &["storage.type=amazon"]);
        assert!(out.contains("storage.type=amazon needs storage.amazon.bucket"), "{out}");
    }
}

// ---------------------------------------------------------------------------------------------
// Dogfood: the chart served by Chartroom itself
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dogfood_chart_is_served_by_chartroom_and_renders_from_it() {
    let server = Server::start(&[]).await;
    // Packaged by Chartroom's own packager, as users of Chartroom would.
    let out_dir = tempfile::tempdir().expect("tempdir");
    let chart = chart_dir();
    let out = Cli::new().output(&["package", p(&chart), "-d", p(out_dir.path())]);
    assert!(out.status.success(), "chartroom package of helm-chart/ failed: {}", describe_output(&out));
    let tgz = read_single(out_dir.path(), "chartroom-0.1.0.tgz");
    server.upload_raw(tgz.clone()).await.assert_status(201).assert_json(json!({"saved": true}));
    let idx = server.index().await;
    assert_eq!(idx.expect_entry("chartroom", "0.1.0").digest(), sha256_hex(&tgz), "index digest of the chart");
    assert_eq!(idx.expect_entry("chartroom", "0.1.0").get("appVersion"), Some("0.1.0"));

    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        helm.repo_add("chartroom", &server.repo_url());
        helm.repo_update();
        assert_eq!(helm.searched_versions("chartroom", "chartroom", false), ["0.1.0"], "{}", helm.label());
        let r = template_args(
            &helm,
            &["template", "rel", "chartroom/chartroom", "--version", "0.1.0", "--namespace", "charts"],
        );
        assert_eq!(at(r.get("Deployment"), "/spec/replicas"), &json!(1), "{}", r.label);
        assert_hardened_pod(&r, "/health");
        assert_eq!(r.env_value("STORAGE_LOCAL_ROOTDIR").as_deref(), Some("/data"), "{}", r.label);
        assert!(r.find("PersistentVolumeClaim").is_some(), "{}", r.label);
        // The packaged chart keeps its rules (helpers and schema travel with it).
        let out =
            helm.run_fail(&["template", "rel", "chartroom/chartroom", "--version", "0.1.0", "--set", "replicaCount=2"]);
        assert!(out.contains(RWO_MESSAGE), "{}: {out}", helm.label());
    }
}
