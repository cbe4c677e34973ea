//! `values.yaml` with syntax highlighting: a small line tokenizer (comments, keys, list dashes,
//! strings, numbers, booleans and null, anchors and aliases) whose every piece of text is
//! HTML-escaped into a `<span class>`. It never parses the YAML, so a file it does not
//! understand is shown plain, never refused.

use std::fmt::Write;

/// Longest `values.yaml` shown (bytes); the rest is cut, and the page says so.
pub(crate) const MAX_VALUES: usize = 512 * 1024;

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn span(out: &mut String, class: &str, text: &str) {
    if text.is_empty() {
        return;
    }
    let _ = write!(out, "<span class=\"{class}\">");
    escape(out, text);
    out.push_str("</span>");
}

/// The highlighted HTML of `yaml` (to go inside `<pre><code>`).
pub(crate) fn yaml(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() * 2);
    for (i, line) in yaml.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        line_html(&mut out, line.strip_suffix('\r').unwrap_or(line));
    }
    out
}

fn line_html(out: &mut String, line: &str) {
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    escape(out, indent);
    if body.starts_with('#') {
        return span(out, "c", body);
    }
    if body == "---" || body == "..." {
        return span(out, "p", body);
    }
    let mut rest = body;
    // List dashes, possibly several (`- - a`).
    while let Some(after) = rest.strip_prefix("- ").or_else(|| (rest == "-").then_some("")) {
        span(out, "p", "-");
        let trimmed = after.trim_start();
        escape(out, &after[..after.len() - trimmed.len()]);
        if rest == "-" {
            return;
        }
        out.push(' ');
        rest = trimmed;
    }
    if let Some(end) = key_end(rest) {
        span(out, "k", &rest[..end]);
        span(out, "p", ":");
        rest = &rest[end + 1..];
        let trimmed = rest.trim_start();
        escape(out, &rest[..rest.len() - trimmed.len()]);
        rest = trimmed;
    }
    value(out, rest);
}

/// Where the key of `text` ends (the index of its `:`), if `text` is `key: value` or `key:`.
fn key_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let first = *bytes.first()?;
    if first == b'"' || first == b'\'' {
        let close = text[1..].find(first as char)? + 1;
        return (text[close + 1..].starts_with(':') && is_key_colon(&text[close + 1..])).then_some(close + 1);
    }
    if matches!(first, b'{' | b'[' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`') {
        return None;
    }
    let mut search = 0;
    while let Some(pos) = text[search..].find(':') {
        let at = search + pos;
        let before = &text[..at];
        if before.contains(" #") {
            return None;
        }
        if is_key_colon(&text[at..]) {
            return Some(at);
        }
        search = at + 1;
    }
    None
}

/// `:` followed by a space or the end of the line.
fn is_key_colon(from_colon: &str) -> bool {
    matches!(from_colon.as_bytes().get(1), None | Some(b' ') | Some(b'\t'))
}

fn value(out: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    // A comment after the value: ` #`.
    let (value, comment) = match comment_start(text) {
        Some(at) => (&text[..at], &text[at..]),
        None => (text, ""),
    };
    let trimmed = value.trim_end();
    let class = classify(trimmed);
    match class {
        Some(class) => span(out, class, trimmed),
        None => escape(out, trimmed),
    }
    escape(out, &value[trimmed.len()..]);
    span(out, "c", comment);
}

/// Where a trailing comment starts, outside quotes.
fn comment_start(text: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') && (i == 0 || prev == ' ') => quote = Some(c),
            None if c == '#' && (i == 0 || prev == ' ' || prev == '\t') => return Some(i),
            None => {}
        }
        prev = c;
    }
    None
}

fn classify(v: &str) -> Option<&'static str> {
    if v.is_empty() {
        return None;
    }
    if v.starts_with('"') || v.starts_with('\'') {
        return Some("s");
    }
    if v.starts_with('&') || v.starts_with('*') {
        return Some("a");
    }
    if v.starts_with('|') || v.starts_with('>') || v.starts_with('!') {
        return Some("p");
    }
    match v {
        "true" | "false" | "True" | "False" | "TRUE" | "FALSE" | "yes" | "no" | "on" | "off" => return Some("b"),
        "null" | "Null" | "NULL" | "~" => return Some("b"),
        "{}" | "[]" => return Some("p"),
        _ => {}
    }
    if v.parse::<f64>().is_ok() || (v.starts_with("0x") && v.len() > 2 && v[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Some("n");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::yaml;

    #[test]
    fn tokens_get_classes() {
        insta::assert_snapshot!(yaml("# top\nimage:\n  repository: nginx # the image\n  tag: \"1.25\"\n  pullPolicy: IfNotPresent\nreplicas: 3\nenabled: true\nlist:\n  - a\n  - name: x\n    port: 80\nurl: http://x:80/\nempty: {}\n"), @r#"
        <span class="c"># top</span>
        <span class="k">image</span><span class="p">:</span>
          <span class="k">repository</span><span class="p">:</span> nginx <span class="c"># the image</span>
          <span class="k">tag</span><span class="p">:</span> <span class="s">&quot;1.25&quot;</span>
          <span class="k">pullPolicy</span><span class="p">:</span> IfNotPresent
        <span class="k">replicas</span><span class="p">:</span> <span class="n">3</span>
        <span class="k">enabled</span><span class="p">:</span> <span class="b">true</span>
        <span class="k">list</span><span class="p">:</span>
          <span class="p">-</span> a
          <span class="p">-</span> <span class="k">name</span><span class="p">:</span> x
            <span class="k">port</span><span class="p">:</span> <span class="n">80</span>
        <span class="k">url</span><span class="p">:</span> http://x:80/
        <span class="k">empty</span><span class="p">:</span> <span class="p">{}</span>
        "#);
    }

    #[test]
    fn everything_is_escaped() {
        let html = yaml("a: <script>x</script> # <b>\n\"<k>\": '<v>'\n<img src=x onerror=y>: 1\n- </code><script>\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(!html.contains("</code>"), "{html}");
        // Stripping the spans gives back the text, escaped.
        let text: String = html
            .replace("</span>", "")
            .split("<span class=\"")
            .map(|p| p.split_once("\">").map_or(p, |(_, t)| t))
            .collect();
        assert_eq!(
            text,
            "a: &lt;script&gt;x&lt;/script&gt; # &lt;b&gt;\n&quot;&lt;k&gt;&quot;: &#39;&lt;v&gt;&#39;\n&lt;img src=x onerror=y&gt;: 1\n- &lt;/code&gt;&lt;script&gt;\n"
        );
    }
}
