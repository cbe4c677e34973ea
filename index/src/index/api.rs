//! Versions as JSON: the chart API's answers (`/api/charts`, ChartMuseum's shape: Go's JSON of
//! `ChartVersion`, then Chartroom's `provenance`) and the JSON index body's version lists.

use chartroom_chart::gojson;

use super::{ChartName, Index, Slot};

impl Index {
    /// `{"name":[ChartVersion...],...}` for chart names `offset..offset+limit` in index order, as
    /// the chart API shows them ([`crate::Entry::api_json`]).
    pub fn entries_json(&self, offset: usize, limit: usize) -> String {
        let mut out = String::new();
        out.push('{');
        for (i, (name, versions)) in self.charts.iter().skip(offset).take(limit).enumerate() {
            if i > 0 {
                out.push(',');
            }
            gojson::push_string(&mut out, &name.0);
            out.push(':');
            write_versions_json(&mut out, versions, Body::Api);
        }
        out.push('}');
        out
    }

    /// `[ChartVersion...]` for one chart, newest first, as the chart API shows them.
    pub fn chart_json(&self, name: &str) -> Option<String> {
        let versions = self.charts.get(&ChartName(name.to_owned()))?;
        let mut out = String::new();
        write_versions_json(&mut out, versions, Body::Api);
        Some(out)
    }
}

/// Which JSON a version is written as.
#[derive(Clone, Copy)]
pub(super) enum Body {
    /// The served index: Helm's `ChartVersion` only.
    Index,
    /// The chart API: Helm's fields, then Chartroom's (`provenance`).
    Api,
}

pub(super) fn write_versions_json(out: &mut String, versions: &[Slot], body: Body) {
    out.push('[');
    for (i, e) in versions.iter().map(|s| &s.entry).enumerate() {
        if i > 0 {
            out.push(',');
        }
        match body {
            Body::Index => e.write_json(out),
            Body::Api => out.push_str(&e.api_json()),
        }
    }
    out.push(']');
}
