//! The toolkit of Chartroom's end-to-end tests and benchmarks (`publish = false`, a
//! dev-dependency only).
//!
//! One helper per file:
//! * [`auth`]: credentials for servers with authentication: bcrypt and `htpasswd` hashes,
//!   token digests, `Authorization` headers, a JWT issuer with a key made by `openssl`.
//! * [`server`]: [`Server`], a `chartroom serve` process on a free loopback port, started as a
//!   [`Launch`] says (storage, flags, environment), restarted, stopped (SIGTERM) or killed
//!   (SIGKILL); its log is printed when a test panics.
//! * [`http`]: [`Resp`] (a fully read response with assertions) and the requests tests send to a
//!   [`Server`] (uploads raw and multipart, the index).
//! * [`storage`]: [`StorageTarget`] (the server's temporary folder, a given folder, or a bucket
//!   and prefix of an [`S3Server`]) and the suite-wide choice `CHARTROOM_E2E_STORAGE`.
//! * [`s3`]: [`S3Server`], one s3s-fs process (a real S3 protocol server on a plain folder).
//! * [`cli`]: [`Cli`], the `chartroom` binary run as a client.
//! * [`helm`]: [`Helm`], Helm 3.17 or 4.1 with isolated homes.
//! * [`gpg`]: [`GnuPg`], GnuPG in a throw-away home making real OpenPGP keys ([`KeySpec`]).
//! * [`index`]: [`Index`], the tests' own parser of served indexes.
//! * [`tools`]: where the binaries are (the `chartroom` under test, `.tools/bin/helm3|helm4|s3s-fs`
//!   or `CHARTROOM_HELM3|HELM4|S3S_FS`) and `testdata/`. A missing tool fails the test.
//! * [`process`]: child processes killed on drop (and all at once at a deadline), free ports.
//! * [`tls`]: [`Pki`], a test CA with server and client certificates made by `openssl`.
//! * [`files`], [`data`]: folder snapshots and copies; digests, filler, decoders, polling.
//!
//! Chart archives come from [`chartroom_chart::testing::ChartBuilder`], re-exported here.
//!
//! The `chartroom` binary is the one cargo built for the running test or benchmark
//! (`CARGO_BIN_EXE_chartroom`, see [`tools::chartroom_binary`]); a benchmark may name another
//! with [`use_chartroom_binary`].

pub mod auth;
pub mod cli;
pub mod clients;
pub mod data;
pub mod files;
pub mod gpg;
pub mod helm;
pub mod http;
pub mod index;
pub mod process;
pub mod s3;
pub mod server;
pub mod storage;
pub mod tls;
pub mod tools;
pub mod webhooks;

pub use auth::{JwtIssuer, basic, bcrypt_hash, bearer, chartmuseum_claims, htpasswd_line, token_digest};
pub use chartroom_chart::testing::{
    CONFIGMAP_TEMPLATE, ChartBuilder, TarEntry, default_chart_yaml, default_values_yaml, gzip,
};
pub use cli::{Cli, Run, describe_output};
pub use clients::{load_client, new_client};
pub use data::{base64_decode, eventually, gunzip, noise, noise_text, sha256_hex, truncate};
pub use files::{copy_tree, read_single, snapshot_dir};
pub use gpg::{GnuPg, KeySpec};
pub use helm::{BOTH_HELMS, Helm, HelmVersion};
pub use http::Resp;
pub use index::{Index, IndexEntry};
pub use process::free_port;
pub use s3::S3Server;
pub use server::{Launch, Server, TlsClient};
pub use storage::{E2E_S3_BUCKET, E2E_S3_PREFIX, StorageTarget, e2e_storage};
pub use tls::{Issued, Pki};
pub use tools::{
    SIGNTEST_KEYRING, SIGNTEST_PROV, SIGNTEST_SHA256, SIGNTEST_TGZ, chromium_binary, read_testdata, testdata,
    ui_test_tools, use_chartroom_binary, workspace_dir,
};
pub use webhooks::{WEBHOOK_SECRET, WebhookReceiver};
