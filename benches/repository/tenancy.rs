//! The scenarios of issue 10: what authentication costs a read (`GET /index.yaml` with basic auth,
//! its verification cached, against the same server without authentication) and what tenants
//! cost at start (1, 100 and 1,000 tenants of 100 versions each: start time and memory).

use std::fs;
use std::path::Path;
use std::time::Duration;

use chartroom_testkit::{Launch, Server, StorageTarget, basic, bearer, token_digest};

use crate::charts::{self, base_files};
use crate::external::{self, WrkResult};
use crate::measure::{Mem, check_exact, get_index, index_ready_ms, read_mem, secs_list};
use crate::scenarios::Bench;
use crate::{Res, log};

/// The password and token of the authenticated reads.
const PASSWORD: &str = "bench-password-1f9e";
const TOKEN: &str = "bench-token-83c2e0d4a1";
/// bcrypt cost of the benchmark user: `htpasswd -B`'s default is 5, common settings use 10-12; at
/// 10 one verification takes tens of milliseconds, which only the cache keeps off a read.
const BCRYPT_COST: u32 = 10;

/// `GET /index.yaml` throughput without and with authentication, interleaved rounds.
pub struct AuthServing {
    pub versions: usize,
    pub body_len: usize,
    pub open: Vec<WrkResult>,
    pub basic: Vec<WrkResult>,
    pub token: Vec<WrkResult>,
}

impl AuthServing {
    pub fn mean(results: &[WrkResult]) -> f64 {
        results.iter().map(|r| r.rps).sum::<f64>() / results.len().max(1) as f64
    }
}

/// Start time and memory of one tenant count.
pub struct TenantStart {
    pub tenants: usize,
    pub versions_each: usize,
    pub cold: Duration,
    pub cold_ready: Option<String>,
    pub mem_cold: Mem,
    pub restarts: Vec<Duration>,
    pub restart_ready: Option<String>,
    pub mem_restarted: Mem,
    /// The sum of the tenants' `index.yaml` bodies.
    pub bodies: u64,
}

/// `chartroom serve` on `root` with `extra` flags and no periodic resync, start timed as in the
/// other scenarios.
async fn start(root: &Path, extra: &[&str], ready_within: Duration) -> Server {
    let mut launch = Launch::new(StorageTarget::LocalDir(root.to_owned())).args(&["--cache-interval", "0"]).args(extra);
    launch.ready_within = ready_within;
    launch.poll_every = Duration::from_millis(2);
    launch.stop_within = Duration::from_secs(60);
    Server::launch(launch).await
}

impl Bench {
    /// (10) `GET /index.yaml` of a `--auth-versions` repository: a server without
    /// authentication, and one with an auth config whose user (bcrypt cost 10) and token may
    /// pull; wrk sends the same `Authorization` header on every request, so after the first
    /// verification every read is a cache hit (Basic) or a constant-time digest check (token).
    pub async fn auth_serving(&self) -> Res<AuthServing> {
        let n = self.opts.auth_versions;
        log(format!("GET /index.yaml with and without authentication, {n} versions"));
        let work = self.work_dir().join("auth");
        let (open_root, auth_root) = (work.join("open"), work.join("secured"));
        charts::populate(&self.opts, &open_root, n)?;
        charts::populate(&self.opts, &auth_root, n)?;
        let hash = bcrypt::hash(PASSWORD, BCRYPT_COST).map_err(|e| e.to_string())?;
        let config = work.join("auth.yaml");
        fs::write(
            &config,
            format!(
                "users:\n  bench: \"{hash}\"\ntokens:\n  ci: \"{}\"\ngrants:\n  - to: [bench, ci]\n    tenants: [\"*\"]\n    actions: [pull]\n",
                token_digest(TOKEN)
            ),
        )
        .map_err(|e| e.to_string())?;
        let config = config.to_str().ok_or("non-UTF-8 path")?;
        let mut open = start(&open_root, &[], Duration::from_secs(60)).await;
        let mut secured = start(&auth_root, &["--auth-config", config], Duration::from_secs(60)).await;
        let (body, counts) = get_index(&self.http, &open.repo_url()).await?;
        check_exact(&counts, base_files(n))?;
        let refused = self.http.get(secured.url("/index.yaml")).send().await.map_err(|e| e.to_string())?;
        if refused.status().as_u16() != 401 {
            return Err(format!("the secured server answered {} without credentials", refused.status()));
        }
        let basic_header = format!("Authorization: {}", basic("bench", PASSWORD));
        let token_header = format!("Authorization: {}", bearer(TOKEN));
        let (secs, wrk) = (self.opts.wrk_secs, &self.opts.wrk);
        let mut result = AuthServing { versions: n, body_len: body.len(), open: vec![], basic: vec![], token: vec![] };
        // Interleaved, so that a slow moment of this shared machine does not fall on one side only.
        for round in 0..2 {
            log(format!("auth round {}: open, basic, token", round + 1));
            result.open.push(external::run_wrk_with(wrk, secs, &open.url("/index.yaml"), &[])?);
            self.warm_verification_cache(&secured, &basic("bench", PASSWORD)).await?;
            result.basic.push(external::run_wrk_with(wrk, secs, &secured.url("/index.yaml"), &[&basic_header])?);
            result.token.push(external::run_wrk_with(wrk, secs, &secured.url("/index.yaml"), &[&token_header])?);
        }
        for r in result.open.iter().chain(&result.basic).chain(&result.token) {
            if r.non_2xx > 0 {
                return Err(format!("{} non-2xx answers during the authenticated reads", r.non_2xx));
            }
        }
        open.stop();
        secured.stop();
        let _ = fs::remove_dir_all(&work);
        Ok(result)
    }

    /// One authenticated read before a measured run, so that the run measures what its label
    /// says (reads whose verification is cached), not the first bcrypt of each round; the
    /// cache keeps an entry for 30 s, longer than a round lasts only with short wrk runs.
    async fn warm_verification_cache(&self, secured: &Server, authorization: &str) -> Res<()> {
        let r = self
            .http
            .get(secured.url("/index.yaml"))
            .header("authorization", authorization)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match r.status().as_u16() {
            200 => Ok(()),
            status => Err(format!("the secured server answered {status} to the bench user")),
        }
    }

    /// (11) Start time and memory with `--depth 1` and each of `--tenant-counts` tenants holding
    /// `--tenant-versions` versions (the same archives hard-linked into every tenant folder):
    /// a cold start without state, then restarts with the per-tenant state written at shutdown.
    pub async fn tenant_starts(&self) -> Res<Vec<TenantStart>> {
        let v = self.opts.tenant_versions;
        let mut rows = Vec::new();
        for &t in &self.opts.tenant_counts {
            log(format!("{t} tenants of {v} versions: populate"));
            let root = self.work_dir().join(format!("tenants-{t}"));
            for i in 0..t {
                charts::populate(&self.opts, &root.join(format!("team-{i:04}")), v)?;
            }
            log(format!("{t} tenants of {v} versions: cold start"));
            let mut srv = start(&root, &["--depth", "1"], Duration::from_secs(300)).await;
            let cold = srv.started_in();
            let cold_ready = index_ready_ms(&srv.log());
            self.check_tenants(&srv, t, v).await?;
            let mem_cold = read_mem(srv.pid())?;
            let mut restarts = Vec::new();
            for _ in 0..self.opts.restarts {
                srv.stop();
                srv.spawn_and_wait().await;
                restarts.push(srv.started_in());
            }
            let restart_ready = index_ready_ms(&srv.log());
            self.check_tenants(&srv, t, v).await?;
            let mem_restarted = read_mem(srv.pid())?;
            let mut bodies = 0;
            for i in 0..t {
                let r = self.http.get(srv.url(&format!("/team-{i:04}/index.yaml"))).send().await;
                bodies += r.map_err(|e| e.to_string())?.bytes().await.map_err(|e| e.to_string())?.len() as u64;
            }
            srv.stop();
            drop(srv);
            let _ = fs::remove_dir_all(&root);
            log(format!("{t} tenants: cold {:.3} s, restarts {} s", cold.as_secs_f64(), secs_list(&restarts)));
            rows.push(TenantStart {
                tenants: t,
                versions_each: v,
                cold,
                cold_ready,
                mem_cold,
                restarts,
                restart_ready,
                mem_restarted,
                bodies,
            });
        }
        Ok(rows)
    }

    /// Every tenant is listed, and the first and last serve exactly their versions.
    async fn check_tenants(&self, srv: &Server, tenants: usize, versions: usize) -> Res<()> {
        let listed: serde_json::Value = self
            .http
            .get(srv.url("/api/tenants"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let count = listed["tenants"].as_array().map_or(0, Vec::len);
        if count != tenants {
            return Err(format!("/api/tenants lists {count} tenants, expected {tenants}"));
        }
        for i in [0, tenants - 1] {
            let (_, counts) = get_index(&self.http, &srv.url(&format!("/team-{i:04}"))).await?;
            check_exact(&counts, base_files(versions)).map_err(|e| format!("tenant team-{i:04}: {e}"))?;
        }
        Ok(())
    }
}
