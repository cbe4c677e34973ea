//! The mixed load of one worker, and the tally of every response by site, operation and status.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chartroom_testkit::{ChartBuilder, load_client, sha256_hex};

/// What a worker does; each has the statuses it may get besides 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Upload,
    UploadWithProv,
    Overwrite,
    Delete,
    Index,
    ChartFile,
    ChartApi,
    Templates,
    Resync,
    Helm,
}

impl Op {
    /// Non-2xx statuses that are expected: an upload of a version that exists (a replica that
    /// has not seen a delete yet, or a version this worker chose again) is a conflict; a delete
    /// or a GET of a version deleted meanwhile (or not yet seen by that replica) is a 404.
    /// A 503 of `Templates` is not: the two archive reads at once have a queue of 32 waiting up
    /// to 5 s each, which the few workers of a site cannot fill.
    fn expected(self, status: u16) -> bool {
        (200..300).contains(&status)
            || match self {
                Op::Upload | Op::UploadWithProv => status == 409,
                Op::Delete | Op::ChartFile | Op::ChartApi | Op::Templates => status == 404,
                Op::Overwrite | Op::Index | Op::Resync | Op::Helm => false,
            }
    }
}

/// Responses by (site, operation, status; 0 for a transport error), and the violations.
#[derive(Default)]
pub struct Tally {
    pub counts: BTreeMap<(&'static str, Op, u16), u64>,
    pub violations: Vec<String>,
    pub other: BTreeMap<String, u64>,
}

impl Tally {
    pub fn record(&mut self, site: &'static str, op: Op, status: u16, detail: impl FnOnce() -> String) {
        *self.counts.entry((site, op, status)).or_default() += 1;
        // Every unexpected response is counted; the first 50 are described.
        if !op.expected(status) && self.violations.len() < 50 {
            self.violations.push(format!("{site} {op:?}: {status} {}", detail()));
        }
    }

    /// Counts that are no responses (slow clients, Helm runs).
    pub fn note(&mut self, what: impl Into<String>) {
        *self.other.entry(what.into()).or_default() += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        for (k, v) in other.counts {
            *self.counts.entry(k).or_default() += v;
        }
        for (k, v) in other.other {
            *self.other.entry(k).or_default() += v;
        }
        self.violations.extend(other.violations);
    }

    fn unexpected(&self) -> u64 {
        self.counts.iter().filter(|((_, op, status), _)| !op.expected(*status)).map(|(_, n)| n).sum()
    }

    /// Prints the tally; `false` when a response was unexpected.
    pub fn report(&self, ran: Duration) -> bool {
        let total: u64 = self.counts.values().sum();
        println!(
            "### Responses ({total} in {:.0} s, {:.0}/s)\n",
            ran.as_secs_f64(),
            total as f64 / ran.as_secs_f64().max(1.0)
        );
        println!("| site | operation | status | count |\n|---|---|---:|---:|");
        for ((site, op, status), n) in &self.counts {
            let mark = if op.expected(*status) { "" } else { " **unexpected**" };
            let status = if *status == 0 { "transport error".to_owned() } else { status.to_string() };
            println!("| {site} | {op:?} | {status}{mark} | {n} |");
        }
        if !self.other.is_empty() {
            println!("\n| other | count |\n|---|---:|");
            for (k, n) in &self.other {
                println!("| {k} | {n} |");
            }
        }
        let unexpected = self.unexpected();
        if unexpected > 0 {
            println!("\n{unexpected} unexpected responses; the first ones:\n");
            for v in &self.violations {
                println!("- {v}");
            }
        }
        unexpected == 0
    }
}

/// A small deterministic generator (xorshift64*): runs are repeatable per worker.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// A chart whose digest depends on `revision` (overwrites change the bytes).
pub fn chart(name: &str, version: &str, revision: u64) -> Vec<u8> {
    ChartBuilder::chart(name, version)
        .file(
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: soak revision {revision}\n"),
        )
        .file(
            "templates/service.yaml",
            format!("kind: Service\nmetadata:\n  name: {{{{ .Release.Name }}}}-{revision}\n"),
        )
        .build()
}

/// An unsigned provenance file in Helm's format for `tgz` (the servers run with
/// `--provenance off`, which checks that it names the chart and its digest, not the signature).
pub fn provenance(name: &str, version: &str, tgz: &[u8]) -> Vec<u8> {
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: {name}\nversion: {version}\n\n...\nfiles:\n  {name}-{version}.tgz: sha256:{}\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJnAAAACRAAAAAAAAAAAAAA\n=AAAA\n-----END PGP SIGNATURE-----\n",
        sha256_hex(tgz)
    )
    .into_bytes()
}

/// One worker: until `deadline`, a random operation on a random server of the site, on the
/// worker's own charts (`soak-<site>-w<w>-<k>`, 3 names × 16 versions, so storage stays bounded).
pub async fn worker(site: &'static str, bases: Vec<String>, w: usize, deadline: Instant) -> Tally {
    let http = load_client();
    let mut rng = Rng::new((w as u64 + 1) * if site == "local" { 7 } else { 13 });
    let mut tally = Tally::default();
    let mut revision = 0u64;
    while Instant::now() < deadline {
        let base = &bases[rng.below(bases.len() as u64) as usize];
        let name = format!("soak-{site}-w{w}-{}", rng.below(3));
        let version = format!("1.0.{}", rng.below(16));
        revision += 1;
        let roll = rng.below(100);
        let (op, request) = match roll {
            0..25 => (Op::Upload, http.post(format!("{base}/api/charts")).body(chart(&name, &version, revision))),
            25..35 => {
                let tgz = chart(&name, &version, revision);
                let prov = provenance(&name, &version, &tgz);
                let form = reqwest::multipart::Form::new()
                    .part("chart", reqwest::multipart::Part::bytes(tgz).file_name(format!("{name}-{version}.tgz")))
                    .part(
                        "prov",
                        reqwest::multipart::Part::bytes(prov).file_name(format!("{name}-{version}.tgz.prov")),
                    );
                (Op::UploadWithProv, http.post(format!("{base}/api/charts")).multipart(form))
            }
            35..45 => {
                (Op::Overwrite, http.post(format!("{base}/api/charts?force")).body(chart(&name, &version, revision)))
            }
            45..55 => (Op::Delete, http.delete(format!("{base}/api/charts/{name}/{version}"))),
            55..75 => (Op::Index, http.get(format!("{base}/index.yaml"))),
            75..88 => (Op::ChartFile, http.get(format!("{base}/charts/{name}-{version}.tgz"))),
            88..95 => (Op::ChartApi, http.get(format!("{base}/api/charts/{name}"))),
            95..99 => (Op::Templates, http.get(format!("{base}/api/charts/{name}/{version}/templates"))),
            _ => (Op::Resync, http.post(format!("{base}/api/resync"))),
        };
        match request.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read the whole body: a response cut short is a transport error.
                match resp.bytes().await {
                    Ok(body) => tally.record(site, op, status, || {
                        format!("{base} {name} {version}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]))
                    }),
                    Err(e) => tally.record(site, op, 0, || format!("{base} {name} {version}: body: {e}")),
                }
            }
            Err(e) => tally.record(site, op, 0, || format!("{base} {name} {version}: {e}")),
        }
    }
    tally
}
