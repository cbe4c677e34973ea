//! Which tenants a server serves, and where their files are in storage: pure rules, no I/O.
//!
//! A tenant's charts are the `.tgz` objects directly in its folder, `<prefix>/<tenant>/<name>-
//! <version>.tgz`, as ChartMuseum writes them; its Chartroom state is
//! `<prefix>/<tenant>/.chartroom/index-state.bin` (`index-state.json` when an older Chartroom
//! wrote it); a ChartMuseum state file it may have is
//! `<prefix>/<tenant>/index-cache.yaml`; a chart's provenance file is `<archive>.prov` beside
//! it. [`classify`] reads a storage key that way, [`group`] turns a listing of the whole bucket
//! into one listing per tenant.

use std::collections::BTreeMap;
use std::fmt;

use chartroom_storage::{CHARTMUSEUM_STATEFILE, ObjectInfo, STATE_DIR};

use crate::state::LEGACY_STATE_FILE;
use crate::statefile::STATE_FILE;
use crate::tenant::Tenant;

/// Which tenants a server serves (ChartMuseum's `--depth` and `--depth-dynamic`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tenancy {
    /// The root repository only: charts at `<prefix>/<name>-<version>.tgz` (depth 0).
    #[default]
    Single,
    /// Tenants of exactly this many path segments (`--depth N`); charts at any other depth are
    /// not served. `Depth(0)` is `Single`.
    Depth(usize),
    /// Every folder path holding charts is a tenant, the root included (`--depth-dynamic`).
    Dynamic,
}

impl Tenancy {
    /// Whether `tenant` is a repository under this layout (whether or not it has charts).
    pub fn serves(&self, tenant: &Tenant) -> bool {
        match *self {
            Tenancy::Single => tenant.is_root(),
            Tenancy::Depth(n) => tenant.depth() == n,
            Tenancy::Dynamic => true,
        }
    }

    /// Whether only the root is served: storage is listed with one delimiter LIST of the root
    /// folder, as before tenants existed; otherwise the whole tree is listed.
    pub(crate) fn is_single(&self) -> bool {
        matches!(self, Tenancy::Single | Tenancy::Depth(0))
    }
}

impl fmt::Display for Tenancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Tenancy::Single | Tenancy::Depth(0) => f.write_str("this server serves the root repository only"),
            Tenancy::Depth(1) => f.write_str("this server serves repositories of exactly 1 path segment"),
            Tenancy::Depth(n) => write!(f, "this server serves repositories of exactly {n} path segments"),
            Tenancy::Dynamic => f.write_str("this server serves repositories at any depth"),
        }
    }
}

/// What a storage key is to a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listed<'k> {
    /// A chart archive, by its file name in the tenant's folder.
    Chart(&'k str),
    /// A provenance file (`<archive>.prov`), by its file name in the tenant's folder.
    Provenance(&'k str),
    /// The tenant's Chartroom state (`.chartroom/index-state.bin`, or the JSON
    /// `index-state.json` of an older Chartroom).
    State,
    /// The tenant's ChartMuseum state file (`index-cache.yaml`), read for `created` times.
    ChartMuseumState,
}

/// The tenant a storage key (relative to the prefix) belongs to under `tenancy`, and what it
/// is; `None` for anything else: objects at a depth the layout does not serve, in folders that
/// are not tenant names (`.chartroom/` among them, so change logs never count) and other objects.
pub(crate) fn classify(key: &str, tenancy: Tenancy) -> Option<(Tenant, Listed<'_>)> {
    let (folder, file) = key.rsplit_once('/').unwrap_or(("", key));
    if file == STATE_FILE || file == LEGACY_STATE_FILE {
        let owner = if folder == STATE_DIR { "" } else { folder.strip_suffix(STATE_DIR)?.strip_suffix('/')? };
        return Some((served(owner, tenancy)?, Listed::State));
    }
    let listed = if file == CHARTMUSEUM_STATEFILE {
        Listed::ChartMuseumState
    } else if file.ends_with(".tgz") {
        Listed::Chart(file)
    } else if file.ends_with(".tgz.prov") {
        Listed::Provenance(file)
    } else {
        return None;
    };
    Some((served(folder, tenancy)?, listed))
}

fn served(folder: &str, tenancy: Tenancy) -> Option<Tenant> {
    let tenant = Tenant::parse(folder).ok()?;
    tenancy.serves(&tenant).then_some(tenant)
}

/// One tenant's share of a listing of the whole bucket.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Found {
    /// Its chart archives, by file name in its folder.
    pub charts: Vec<ObjectInfo>,
    /// Its provenance files, by file name in its folder.
    pub provenance: Vec<ObjectInfo>,
    /// Whether it has Chartroom state.
    pub state: bool,
    /// Whether it has a ChartMuseum state file.
    pub chartmuseum: bool,
}

/// A listing of the whole bucket (keys relative to the prefix) grouped by tenant. Only tenants
/// holding charts exist: a folder with state files and no chart is no tenant.
pub(crate) fn group(listing: Vec<ObjectInfo>, tenancy: Tenancy) -> BTreeMap<Tenant, Found> {
    let mut tenants: BTreeMap<Tenant, Found> = BTreeMap::new();
    for mut object in listing {
        let Some((tenant, listed)) = classify(&object.file, tenancy) else { continue };
        let file = match listed {
            Listed::Chart(file) => file.to_owned(),
            Listed::Provenance(file) => {
                object.file = file.to_owned();
                tenants.entry(tenant).or_default().provenance.push(object);
                continue;
            }
            Listed::State => {
                tenants.entry(tenant).or_default().state = true;
                continue;
            }
            Listed::ChartMuseumState => {
                tenants.entry(tenant).or_default().chartmuseum = true;
                continue;
            }
        };
        object.file = file;
        tenants.entry(tenant).or_default().charts.push(object);
    }
    tenants.retain(|_, found| !found.charts.is_empty());
    tenants
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn which_tenants_a_layout_serves() {
        let t = |p: &str| Tenant::parse(p).unwrap();
        // (layout, root, "a", "a/b")
        for (tenancy, root, one, two) in [
            (Tenancy::Single, true, false, false),
            (Tenancy::Depth(0), true, false, false),
            (Tenancy::Depth(1), false, true, false),
            (Tenancy::Depth(2), false, false, true),
            (Tenancy::Dynamic, true, true, true),
        ] {
            let got = (tenancy.serves(&Tenant::root()), tenancy.serves(&t("a")), tenancy.serves(&t("a/b")));
            assert_eq!(got, (root, one, two), "{tenancy:?}");
        }
        assert_eq!(Tenancy::Depth(2).to_string(), "this server serves repositories of exactly 2 path segments");
        assert!(Tenancy::Single.is_single() && Tenancy::Depth(0).is_single() && !Tenancy::Dynamic.is_single());
    }

    #[test]
    fn keys_to_tenants() {
        use Listed::*;
        // (key, Single, Depth(1), Dynamic): the tenant and what the key is, or nothing.
        type Want = Option<(&'static str, Listed<'static>)>;
        let cases: &[(&str, Want, Want, Want)] = &[
            ("a-1.0.0.tgz", Some(("", Chart("a-1.0.0.tgz"))), None, Some(("", Chart("a-1.0.0.tgz")))),
            ("team/a-1.0.0.tgz", None, Some(("team", Chart("a-1.0.0.tgz"))), Some(("team", Chart("a-1.0.0.tgz")))),
            ("org/team/a-1.0.0.tgz", None, None, Some(("org/team", Chart("a-1.0.0.tgz")))),
            (
                "a-1.0.0.tgz.prov",
                Some(("", Provenance("a-1.0.0.tgz.prov"))),
                None,
                Some(("", Provenance("a-1.0.0.tgz.prov"))),
            ),
            (
                "team/a-1.0.0.tgz.prov",
                None,
                Some(("team", Provenance("a-1.0.0.tgz.prov"))),
                Some(("team", Provenance("a-1.0.0.tgz.prov"))),
            ),
            ("team/.chartroom/a-1.0.0.tgz.prov", None, None, None),
            ("team/README.md", None, None, None),
            ("index-cache.yaml", Some(("", ChartMuseumState)), None, Some(("", ChartMuseumState))),
            ("team/index-cache.yaml", None, Some(("team", ChartMuseumState)), Some(("team", ChartMuseumState))),
            (".chartroom/index-state.json", Some(("", State)), None, Some(("", State))),
            (".chartroom/index-state.bin", Some(("", State)), None, Some(("", State))),
            ("team/.chartroom/index-state.bin", None, Some(("team", State)), Some(("team", State))),
            ("team/index-state.bin", None, None, None),
            ("team/.chartroom/index-state.json", None, Some(("team", State)), Some(("team", State))),
            ("team/index-state.json", None, None, None),
            ("x.chartroom/index-state.json", None, None, None),
            // Chartroom's own folders are never tenants, nor are their contents charts.
            (".chartroom/log/r1/00000000000000000001.json", None, None, None),
            (".chartroom/a-1.0.0.tgz", None, None, None),
            ("team/.chartroom/a-1.0.0.tgz", None, None, None),
            ("team/.chartroom/log/index-state.json", None, None, None),
            // Folders that are not tenant names hold no tenant.
            (".hidden/a-1.0.0.tgz", None, None, None),
            ("a b/a-1.0.0.tgz", None, None, None),
            ("team//a-1.0.0.tgz", None, None, None),
        ];
        for (key, single, depth1, dynamic) in cases {
            for (tenancy, want) in [(Tenancy::Single, single), (Tenancy::Depth(1), depth1), (Tenancy::Dynamic, dynamic)]
            {
                let got = classify(key, tenancy);
                let want = want.map(|(t, l)| (Tenant::parse(t).unwrap(), l));
                assert_eq!(got, want, "{key} under {tenancy:?}");
            }
        }
        let long = format!("{}/a-1.0.0.tgz", "x".repeat(65));
        assert_eq!(classify(&long, Tenancy::Dynamic), None, "a folder name too long for a tenant");
    }

    #[test]
    fn a_listing_grouped_by_tenant() {
        let object = |file: &str, size| ObjectInfo {
            file: file.to_owned(),
            size,
            e_tag: None,
            last_modified: SystemTime::UNIX_EPOCH,
        };
        let listing = vec![
            object(".chartroom/index-state.json", 1),
            object(".chartroom/log/r1/00000000000000000001.json", 1),
            object("root-1.0.0.tgz", 2),
            object("a/.chartroom/index-state.bin", 3),
            object("a/index-cache.yaml", 4),
            object("a/x-1.0.0.tgz", 5),
            object("a/x-1.1.0.tgz", 6),
            object("a/x-1.1.0.tgz.prov", 6),
            object("b/x-1.0.0.tgz.prov", 6),
            object("a/deeper/y-1.0.0.tgz", 7),
            object("b/index-cache.yaml", 8),
            object("b/.chartroom/index-state.json", 9),
            object("c/z-1.0.0.tgz", 10),
        ];
        let depth1 = group(listing.clone(), Tenancy::Depth(1));
        let names: Vec<&str> = depth1.keys().map(Tenant::as_str).collect();
        assert_eq!(
            names,
            ["a", "c"],
            "b has state files and a provenance file but no chart; the root and a/deeper are at other depths"
        );
        let a = &depth1[&Tenant::parse("a").unwrap()];
        assert_eq!(
            a.charts.iter().map(|o| (o.file.as_str(), o.size)).collect::<Vec<_>>(),
            [("x-1.0.0.tgz", 5), ("x-1.1.0.tgz", 6)]
        );
        assert!(a.state && a.chartmuseum);
        assert_eq!(a.provenance.iter().map(|o| o.file.as_str()).collect::<Vec<_>>(), ["x-1.1.0.tgz.prov"]);
        let c = &depth1[&Tenant::parse("c").unwrap()];
        assert!(!c.state && !c.chartmuseum && c.charts.len() == 1);

        let dynamic = group(listing, Tenancy::Dynamic);
        let names: Vec<&str> = dynamic.keys().map(Tenant::as_str).collect();
        assert_eq!(names, ["", "a", "a/deeper", "c"]);
        assert!(dynamic[&Tenant::root()].state, "the root's state is the root tenant's");
        assert_eq!(dynamic[&Tenant::parse("a/deeper").unwrap()].charts[0].file, "y-1.0.0.tgz");
    }
}
