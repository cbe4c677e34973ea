//! The HTML of every page, with maud: text is escaped unless wrapped in `PreEscaped`, which only
//! the sanitised README and the highlighter's escaped spans are.

use std::fmt::Write;

use chartroom_index::Tenant;
use jiff::Timestamp;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::assets;
use super::catalogue::{Meta, Page, Sort, Summary};
use super::schema::Row;

/// What every page needs to know about where it is served.
pub(crate) struct Site {
    /// `""` or `/a/b`.
    pub context_path: String,
    /// `http://host:port` as the visitor reached it.
    pub origin: String,
    /// `host:port` (the OCI references' registry).
    pub host: String,
    pub has_tenants: bool,
    pub oci: bool,
}

impl Site {
    pub(crate) fn home(&self) -> String {
        format!("{}/", self.context_path)
    }

    /// The catalogue of `tenant`.
    pub(crate) fn catalogue(&self, tenant: &Tenant) -> String {
        if tenant.is_root() {
            format!("{}/ui/", self.context_path)
        } else {
            format!("{}/ui/{}/", self.context_path, tenant.as_str())
        }
    }

    pub(crate) fn chart(&self, tenant: &Tenant, name: &str) -> String {
        format!("{}charts/{}", self.catalogue(tenant), encode(name))
    }

    pub(crate) fn chart_version(&self, tenant: &Tenant, name: &str, version: &str) -> String {
        format!("{}?version={}", self.chart(tenant, name), encode(version))
    }

    /// The repository URL Helm adds.
    fn repo_url(&self, tenant: &Tenant) -> String {
        if tenant.is_root() {
            format!("{}{}", self.origin, self.context_path)
        } else {
            format!("{}{}/{}", self.origin, self.context_path, tenant.as_str())
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A breadcrumb: its label, and its link unless it is the current page.
pub(crate) type Crumb = (String, Option<String>);

fn layout(site: &Site, title: &str, crumbs: &[Crumb], main: Markup) -> Markup {
    let css = format!("{}/ui/.assets/{}", site.context_path, assets::CSS.name);
    let js = format!("{}/ui/.assets/{}", site.context_path, assets::JS.name);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Chartroom" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(css);
                script src=(js) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.bar {
                        a.brand href=(site.home()) { span.logo aria-hidden="true" { "⎈" } " Chartroom" }
                    }
                }
                @if crumbs.len() > 1 {
                    nav.crumbs aria-label="Breadcrumb" {
                        ol {
                            @for (label, link) in crumbs {
                                li {
                                    @match link {
                                        Some(href) => a href=(href) { (label) },
                                        None => span aria-current="page" { (label) },
                                    }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
                footer.foot { "Chartroom " (env!("CARGO_PKG_VERSION")) " · Helm chart repository" }
            }
        }
    }
}

/// `2026-12-02 15:04 UTC`
fn when(t: Timestamp) -> Markup {
    html! { time datetime=(t.to_string()) { (t.strftime("%Y-%m-%d %H:%M UTC").to_string()) } }
}

/// A chart's icon: an inline `data:` image as given, else its initial on a colour of its name
/// (an icon URL elsewhere is never loaded: no request leaves the server's origin).
fn icon(meta: &Meta, class: &str) -> Markup {
    if is_inline_image(&meta.icon) {
        return html! { img class=(class) src=(meta.icon) alt="" width="48" height="48"; };
    }
    let initial = meta.name.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default();
    let hue = meta.name.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 8;
    html! { span class=(format!("{class} initial c{hue}")) aria-hidden="true" { (initial) } }
}

/// A small `data:` image in a format browsers draw inertly in `<img>` (SVG scripts never run there).
fn is_inline_image(icon: &str) -> bool {
    icon.len() <= 32 * 1024
        && ["data:image/png;", "data:image/gif;", "data:image/jpeg;", "data:image/webp;", "data:image/svg+xml;"]
            .iter()
            .any(|p| icon.starts_with(p))
}

/// The catalogue of one repository.
pub(crate) fn catalogue(
    site: &Site,
    tenant: &Tenant,
    crumbs: &[Crumb],
    page: &Page<'_>,
    query: &str,
    sort: Sort,
    total: usize,
) -> Markup {
    let action = site.catalogue(tenant);
    let heading = if tenant.is_root() { "Charts".to_owned() } else { format!("Charts of {}", tenant.as_str()) };
    let page_link = |n: usize| {
        let mut link = format!("{action}?page={n}");
        if !query.is_empty() {
            let _ = write!(link, "&q={}", encode(query));
        }
        if sort != Sort::Name {
            let _ = write!(link, "&sort={}", sort.as_str());
        }
        link
    };
    let main = html! {
        h1 { (heading) }
        form.search role="search" method="get" action=(action) data-live="results" {
            div.field.grow {
                label for="q" { "Search" }
                input #q type="search" name="q" value=(query) autocomplete="off" spellcheck="false"
                    placeholder="Name, description or keyword" aria-describedby="count";
            }
            div.field {
                label for="sort" { "Sort by" }
                select #sort name="sort" {
                    option value="name" selected[sort == Sort::Name] { "Name" }
                    option value="pushed" selected[sort == Sort::Pushed] { "Last push" }
                }
            }
            button type="submit" { "Search" }
        }
        div #results {
            p.count #count aria-live="polite" {
                @if query.is_empty() {
                    (total) " chart" @if total != 1 { "s" }
                } @else {
                    (page.matched) " of " (total) " chart" @if total != 1 { "s" } " match “" (query) "”"
                }
            }
            @if page.charts.is_empty() {
                p.empty { "No chart matches. Try fewer or other words." }
            } @else {
                ul.charts {
                    @for s in &page.charts { (card(site, tenant, s)) }
                }
            }
            @if page.pages > 1 {
                nav.pager aria-label="Pages" {
                    @if page.page > 1 { a rel="prev" href=(page_link(page.page - 1)) { "← Previous" } }
                    span { "Page " (page.page) " of " (page.pages) }
                    @if page.page < page.pages { a rel="next" href=(page_link(page.page + 1)) { "Next →" } }
                }
            }
        }
    };
    layout(site, &heading, crumbs, main)
}

fn card(site: &Site, tenant: &Tenant, s: &Summary) -> Markup {
    let m = &s.card.meta;
    html! {
        li.card {
            (icon(m, "icon"))
            div.body {
                h2 { a href=(site.chart(tenant, &m.name)) { (m.name) } }
                @if !m.description.is_empty() { p.desc { (m.description) } }
                dl.facts {
                    div { dt { "Version" } dd { (m.version) } }
                    @if !m.app_version.is_empty() { div { dt { "App" } dd { (m.app_version) } } }
                    div { dt { "Pushed" } dd { (when(s.pushed)) } }
                    @if s.versions > 1 { div { dt { "Versions" } dd { (s.versions) } } }
                }
                @if m.deprecated { span.badge.warn { "Deprecated" } }
            }
        }
    }
}

/// The tenants a visitor may read (depth > 0).
pub(crate) fn tenants(site: &Site, list: &[(Tenant, usize, usize)]) -> Markup {
    let main = html! {
        h1 { "Repositories" }
        @if list.is_empty() {
            p.empty { "No repository you may read holds charts yet." }
        } @else {
            ul.charts {
                @for (tenant, charts, versions) in list {
                    li.card {
                        span class="icon initial c3" aria-hidden="true" { "▤" }
                        div.body {
                            h2 { a href=(site.catalogue(tenant)) { (tenant.as_str()) } }
                            p.desc { (charts) " chart" @if *charts != 1 { "s" } ", " (versions) " version" @if *versions != 1 { "s" } }
                        }
                    }
                }
            }
        }
    };
    layout(site, "Repositories", &[("Repositories".into(), None)], main)
}

/// Everything a chart page shows.
pub(crate) struct ChartView<'a> {
    pub tenant: &'a Tenant,
    pub meta: Meta,
    pub digest: &'a str,
    pub created: Timestamp,
    pub signer: Option<String>,
    /// (version, pushed, prerelease, deprecated, short digest, signer) of this page of versions.
    pub versions: Vec<VersionRow>,
    pub version_page: usize,
    pub version_pages: usize,
    pub version_count: usize,
    /// Versions offered by the switcher (newest first).
    pub choices: Vec<String>,
    pub readme: Option<String>,
    pub readme_cut: bool,
    pub values: Option<String>,
    pub values_cut: bool,
    pub schema: Option<Result<Vec<Row>, String>>,
    /// Why README and values could not be read, if they could not.
    pub files_error: Option<String>,
    /// Dependencies that live in this repository: their names.
    pub local_dependencies: Vec<String>,
}

pub(crate) struct VersionRow {
    pub version: String,
    pub pushed: Timestamp,
    pub prerelease: bool,
    pub deprecated: bool,
    pub digest: String,
    pub signer: Option<String>,
}

pub(crate) fn chart(site: &Site, crumbs: &[Crumb], v: &ChartView<'_>) -> Markup {
    let m = &v.meta;
    let here = site.chart(v.tenant, &m.name);
    let repo_name = v.tenant.as_str().rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("chartroom").to_owned();
    let mut commands = vec![
        ("Add the repository", format!("helm repo add {repo_name} {}", site.repo_url(v.tenant))),
        ("Install this version", format!("helm install my-{} {repo_name}/{} --version {}", m.name, m.name, m.version)),
    ];
    if site.oci {
        let path = if v.tenant.is_root() { m.name.clone() } else { format!("{}/{}", v.tenant.as_str(), m.name) };
        // Helm speaks HTTPS to registries unless told otherwise: a server reached over plain
        // HTTP needs `--plain-http`, or the command fails.
        let plain = if site.origin.starts_with("http://") { " --plain-http" } else { "" };
        commands
            .push(("Pull with OCI", format!("helm pull oci://{}/{path} --version {}{plain}", site.host, m.version)));
    }
    let prerelease = super::catalogue::is_prerelease(&m.version);
    let main = html! {
        div.head {
            (icon(m, "icon big"))
            div {
                h1 { (m.name) }
                @if !m.description.is_empty() { p.lead { (m.description) } }
                p.badges {
                    span.badge { "Version " (m.version) }
                    @if !m.app_version.is_empty() { span.badge { "App " (m.app_version) } }
                    @if prerelease { span.badge.pre { "Pre-release" } }
                    @if m.deprecated { span.badge.warn { "Deprecated" } }
                    @if let Some(signer) = &v.signer { span.badge.ok { "Signed by " (signer) } }
                }
            }
        }
        form.switch method="get" action=(here) {
            label for="version" { "Version" }
            select #version name="version" data-autosubmit {
                @for c in &v.choices { option value=(c) selected[*c == m.version] { (c) } }
            }
            button type="submit" { "Show" }
        }
        div.columns {
            div.primary {
                section aria-labelledby="readme" {
                    h2 #readme { "README" }
                    @if let Some(error) = &v.files_error {
                        p.note { "The chart's files could not be read: " (error) }
                    } @else if let Some(readme) = &v.readme {
                        div.markdown { (PreEscaped(readme)) }
                        @if v.readme_cut { p.note { "The README is longer than this; the rest is not shown." } }
                    } @else {
                        p.note { "This chart has no README." }
                    }
                }
                section aria-labelledby="values" {
                    h2 #values { "Values" }
                    @if let Some(values) = &v.values {
                        pre.code tabindex="0" aria-label="values.yaml" { code { (PreEscaped(values)) } }
                        @if v.values_cut { p.note { "values.yaml is longer than this; the rest is not shown." } }
                    } @else if v.files_error.is_none() {
                        p.note { "This chart has no values.yaml." }
                    }
                }
                @if let Some(schema) = &v.schema {
                    section aria-labelledby="schema" {
                        h2 #schema { "Values schema" }
                        @match schema {
                            Ok(rows) if rows.is_empty() => p.note { "values.schema.json lists no properties." },
                            Ok(rows) => div.scroll tabindex="0" role="region" aria-labelledby="schema" {
                                table {
                                    thead { tr { th scope="col" { "Property" } th scope="col" { "Type" } th scope="col" { "Default" } th scope="col" { "Description" } } }
                                    tbody {
                                        @for r in rows {
                                            tr {
                                                td { code { (r.path) } @if r.required { " " span.badge.small { "required" } } }
                                                td { (r.kind) }
                                                td { @if !r.default.is_empty() { code { (r.default) } } }
                                                td { (r.description) }
                                            }
                                        }
                                    }
                                }
                            },
                            Err(e) => p.note { "values.schema.json is not valid JSON: " (e) },
                        }
                    }
                }
            }
            div.secondary {
                section aria-labelledby="install" {
                    h2 #install { "Install" }
                    @for (i, (label, command)) in commands.iter().enumerate() {
                        div.cmd {
                            p.cmd-label #(format!("cmd-label-{i}")) { (label) }
                            div.cmd-row {
                                pre { code #(format!("cmd-{i}")) { (command) } }
                                button.copy type="button" data-copy=(format!("cmd-{i}")) hidden
                                    aria-describedby=(format!("cmd-label-{i}")) { "Copy" }
                            }
                        }
                    }
                    p.copied aria-live="polite" {}
                }
                section aria-labelledby="details" {
                    h2 #details { "Details" }
                    dl.details {
                        dt { "Pushed" } dd { (when(v.created)) }
                        dt { "Digest" } dd { code.digest { "sha256:" (v.digest) } }
                        @if !m.app_version.is_empty() { dt { "App version" } dd { (m.app_version) } }
                        @if !m.kube_version.is_empty() { dt { "Kubernetes" } dd { (m.kube_version) } }
                        @if !m.chart_type.is_empty() { dt { "Type" } dd { (m.chart_type) } }
                        @if !m.keywords.is_empty() { dt { "Keywords" } dd { (m.keywords.join(", ")) } }
                        @if !m.home.is_empty() { dt { "Home" } dd { (link(&m.home)) } }
                        @if !m.sources.is_empty() {
                            dt { "Sources" }
                            @for s in &m.sources { dd { (link(s)) } }
                        }
                        @if !m.maintainers.is_empty() {
                            dt { "Maintainers" }
                            @for who in &m.maintainers {
                                dd {
                                    @if !who.url.is_empty() { (link_text(&who.url, &who.name)) } @else { (who.name) }
                                    @if !who.email.is_empty() { " " span.muted { "<" (who.email) ">" } }
                                }
                            }
                        }
                    }
                }
                @if !m.dependencies.is_empty() {
                    section aria-labelledby="deps" {
                        h2 #deps { "Dependencies" }
                        ul.deps {
                            @for d in &m.dependencies {
                                li {
                                    @if v.local_dependencies.contains(&d.name) {
                                        a href=(site.chart(v.tenant, &d.name)) { (d.name) }
                                    } @else { (d.name) }
                                    " " code { (d.version) }
                                    @if !d.alias.is_empty() { " as " (d.alias) }
                                    @if !d.repository.is_empty() { br; span.muted { (d.repository) } }
                                }
                            }
                        }
                    }
                }
                section aria-labelledby="versions" {
                    h2 #versions { "Versions" }
                    p.muted { (v.version_count) " version" @if v.version_count != 1 { "s" } ", newest first" }
                    ul.versions {
                        @for r in &v.versions {
                            li.current[r.version == m.version] {
                                a href=(site.chart_version(v.tenant, &m.name, &r.version))
                                    aria-current=[(r.version == m.version).then_some("page")] { (r.version) }
                                @if r.prerelease { " " span.badge.small.pre { "pre-release" } }
                                @if r.deprecated { " " span.badge.small.warn { "deprecated" } }
                                @if let Some(s) = &r.signer { " " span.badge.small.ok title=(s) { "signed" } }
                                br;
                                span.muted { (when(r.pushed)) " · " code { (r.digest) } }
                            }
                        }
                    }
                    @if v.version_pages > 1 {
                        nav.pager aria-label="Version pages" {
                            @if v.version_page > 1 { a href=(format!("{}&vpage={}", site.chart_version(v.tenant, &m.name, &m.version), v.version_page - 1)) { "← Newer" } }
                            span { "Page " (v.version_page) " of " (v.version_pages) }
                            @if v.version_page < v.version_pages { a href=(format!("{}&vpage={}", site.chart_version(v.tenant, &m.name, &m.version), v.version_page + 1)) { "Older →" } }
                        }
                    }
                }
            }
        }
    };
    layout(site, &m.name, crumbs, main)
}

/// A link to an address from a chart (http and https only; anything else is shown as text).
fn link(url: &str) -> Markup {
    link_text(url, url)
}

fn link_text(url: &str, text: &str) -> Markup {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        html! { a href=(url) rel="noopener nofollow" { (text) } }
    } else {
        html! { (text) }
    }
}

/// A page that says what went wrong (404 for an unknown chart or version).
pub(crate) fn error(site: &Site, crumbs: &[Crumb], title: &str, message: &str) -> Markup {
    let back = crumbs.iter().rev().find_map(|(_, link)| link.clone()).unwrap_or_else(|| site.home());
    let main = html! {
        h1 { (title) }
        p { (message) }
        p { a href=(back) { "Back to the catalogue" } }
    };
    layout(site, title, crumbs, main)
}
