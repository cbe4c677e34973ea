//! End-to-end tests of the built `chartroom` binary.
//!
//! Every test starts the real binary (`CARGO_BIN_EXE_chartroom`) on a free loopback port with its
//! own temporary storage folder and drives it over HTTP (reqwest) and with the real Helm clients
//! (`.tools/bin/helm3` = 3.17.2 and `.tools/bin/helm4` = 4.1.4, installed by
//! `scripts/install-test-tools.sh`; overridable with `CHARTROOM_HELM3` / `CHARTROOM_HELM4`).
//! A missing Helm binary fails the test: it is never skipped.
//!
//! The suite runs on the storage `CHARTROOM_E2E_STORAGE` names: `local` (default, a temporary
//! folder) or `s3` (`--storage amazon` on a real S3 server: `.tools/bin/s3s-fs` 0.14.1, or
//! `CHARTROOM_S3S_FS`, one per server, bucket `chartroom-e2e`, prefix `charts`). s3s-fs stores each
//! object as a plain file, so tests that look into or change storage work in both modes.
//! `scripts/test.sh` runs the suite in both modes.
//!
//! Modules:
//! * `support`: imports the toolkit (`testkit/`, crate `chartroom-testkit`, shared with the
//!   benchmarks: server harness on local or S3 storage, the s3s-fs process, HTTP helpers, index
//!   parser, Helm and `chartroom` CLI runners) and `chartroom_chart::testing::ChartBuilder`.
//! * `helm`: Helm 3 and Helm 4 user flows (repo add/update, search, pull, show, template,
//!   dependency update, provenance verification, context path, JSON index).
//! * `index_format`: `--index-format auto` against `yaml` with both Helms (repo add/update,
//!   search with `--versions`/`--devel`, pull with digests, show, template, dependency update:
//!   the same outputs; Helm's cache holds JSON under `auto`), and curl getting YAML.
//! * `helm_chart`: the deployment chart in `helm-chart/` (lint, rendered objects, replica rules,
//!   notes) and its dogfood round trip through a running Chartroom.
//! * `api`: the ChartMuseum HTTP API over raw HTTP (uploads, overwrite matrix, delete, resync,
//!   restart, crash (SIGKILL) recovery, caching headers, gzip, pagination, lookups).
//! * `client_push`: `chartroom push` (the `helm cm-push` protocol) of a `.tgz` or a folder, by URL
//!   or `helm repo add` name, context path discovery, `--force`, `--prov` verified by both Helms;
//!   409/401/413/unreachable/invalid-archive failures with their exit codes.
//! * `bad_input`: malformed requests are rejected with a 4xx JSON error and change nothing.
//! * `hardening`: archives placed in storage are checked like uploads (truncated, chart API v3,
//!   names storage keys encode), only indexed files are served and never through a link out of
//!   the storage folder, a version under another file name is a conflict, a bad persisted entry
//!   costs that entry only, a folder named like a chart is a 409 and no outage.
//! * `tenants`: `--depth N` with both Helms per tenant, `helm cm-push`-exact and `chartroom push`
//!   uploads into tenants, hostile tenant names over raw TCP (400, nothing written), 100,000 reads
//!   of tenants that do not exist (RSS measured), three replicas on one S3 bucket per tenant.
//! * `auth`: authentication and per-tenant grants: Helm `repo add --username/--password` per
//!   tenant, Basic and bearer pushes, JWTs (allowed, wrong tenant, expired, wrong audience), the
//!   isolation matrix (3 tenants × 5 identities × 4 actions), the client with stored credentials,
//!   secrets kept out of the log, SIGHUP and watcher reloads, ChartMuseum's single user.
//! * `oci`: the OCI distribution API on the same store: `helm pull oci://` of curl-uploaded
//!   charts (same bytes, index digest, stable derived manifest across restarts), `helm push
//!   oci://` to the root and to a tenant landing in `index.yaml` and `helm search repo`, deletes
//!   through either API, `helm dependency update` from `oci://`, `helm registry login` with a user
//!   and a token (both Helms), and raw HTTP: chunked uploads (416 out of order), digests, `Range`,
//!   mount, cancel, tags pagination, referrers, oversized uploads, invalid chart manifests; three
//!   replicas on one S3 bucket; the Python `oras` SDK as a second client (chunked push, pull);
//!   `chartroom push|pull oci://` and `dependency update` of an `oci://` dependency; a signed
//!   `helm push` whose provenance layer becomes the `.prov` (`--verify` both ways); grants; metrics
//!   by route template; the token endpoint and `--bearer-auth` with both Helms and oras.
//! * `ui`: the web catalogue in Debian's chromium driven by playwright-core (`tests/ui/*.mjs`):
//!   50 charts, search as you type and without JavaScript, README and values, copy to the
//!   clipboard, version switch, keyboard alone, axe-core, screenshots; depth 1 with auth; a
//!   hostile chart whose script never runs.
//! * `events`: the change feed of three replicas on one S3 bucket: every change once, in one
//!   order, from any replica and hopping between them; cursors across a restart; a long poll.
//! * `webhooks`: signed webhooks verified by the Python `standardwebhooks` library in a receiver
//!   (`tests/webhooks/receiver.py`): three attempts with one id, every event kind, the delivery
//!   report and metric, delivery after a restart, 1,000 uploads not waiting for a slow receiver.
//! * `concurrency`: many concurrent uploads lose nothing and duplicate nothing.
//! * `connections`: slow and idle clients, the connection cap, header limits, h2c, request ids.
//! * `operations`: exact metrics after a known sequence, no series from random paths, readiness
//!   (slow cold start, storage outage), rate and upload limits, CORS by the Fetch standard; with
//!   tenants and auth: auth failures by reason, route templates, access-log tenant and identity.
//! * `migration`: an existing ChartMuseum folder is served as it is.
//! * `package`: `chartroom package` against `helm package` (scaffold, `.helmignore`, subcharts):
//!   identical `helm show`/`helm template` output with both Helms, reproducible bytes, failures.
//! * `tls`: HTTPS with certificates made in the test: both Helms, HTTP/2 by ALPN, mTLS, the
//!   client's TLS flags, certificate rotation without failed requests, bad pairs refused.
//! * `shutdown`: SIGTERM lets an in-flight upload finish.
//! * `client`: `chartroom search` and `chartroom pull` (by URL and by `helm repo add` name,
//!   version selection, JSON output, ETag-revalidated index cache, digests checked, archives and
//!   `--untar` folders loaded by both Helms, failures with distinct exit codes).
//! * `install`: `chartroom install` of a chart whose dependencies (and theirs) are not in its
//!   archive: a self-contained folder that both Helms render with the server stopped; tampered
//!   dependency (7, nothing left), existing folder (4), unknown chart (3).
//! * `real_world`: patterns of real public charts (issue 18): archives `helm package` writes with
//!   repeated entries (a `file://` dependency inside `charts/`), long comment blocks in
//!   `values.yaml`, dependency archives that do not load (exit 2, nothing changed), an index
//!   listing a version twice (search and pull agree with Helm); a static repository harness.
//! * `provenance`: signed charts with GnuPG keys made in the test: `helm package --sign` (3.17
//!   RSA, 4.1 Ed25519 with a passphrase) accepted under `--provenance required` and shown as
//!   verified; `chartroom package --sign` accepted by `helm verify` and `helm pull --verify`;
//!   `chartroom verify`, `pull --verify`, `push` with the `.prov` beside; every refusal (400 naming
//!   the check, nothing stored); `if-present`; a keyring change reported, not applied; a bad
//!   keyring stops the start.
//! * `lifecycle`: issue 14's first half: retention by semantic version (30 versions with
//!   pre-releases and build metadata, the preview equal to what `POST /api/retention` removes,
//!   `.prov` files kept and removed with their charts, both Helms listing what stays, pruning on
//!   upload), the storage limit on `helm push` (507), `artifacthub-repo.yml`, and the audit log
//!   of every write path with its refusals.
//! * `deps`: `chartroom dependency update|build` (URL, `@alias` and `file://` dependencies with
//!   alias, condition and tags): Chart.lock accepted unchanged by both Helms' `dependency build`
//!   and theirs by `chartroom dependency build`, same digest and text; out-of-sync (2),
//!   unsatisfiable (3) and unknown alias (3) failures; `package --dependency-update`.

mod api;
mod auth;
mod bad_input;
mod client;
mod client_push;
mod concurrency;
mod connections;
mod deps;
mod events;
mod hardening;
mod helm;
mod helm_chart;
mod index_format;
mod install;
mod lifecycle;
mod migration;
mod oci;
mod operations;
mod package;
mod provenance;
mod real_world;
mod replicas;
mod shutdown;
mod support;
mod tenants;
mod tls;
mod ui;
mod webhooks;
