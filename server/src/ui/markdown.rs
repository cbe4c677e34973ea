//! A chart's README as HTML. READMEs are untrusted: Markdown becomes HTML with pulldown-cmark,
//! then everything (raw HTML included) passes ammonia's allow-list sanitiser: no script, no
//! event handler, no `javascript:` URL, no style; links get `rel="noopener nofollow"`. Images
//! become links to the image: the page loads nothing from another origin.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Longest README rendered (bytes); the rest is cut, and the page says so.
pub(crate) const MAX_README: usize = 512 * 1024;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.link_rel(Some("noopener nofollow"))
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .rm_tags(["img"])
        .add_tags(["details", "summary"]);
    b
});

/// The README's HTML, sanitised.
pub(crate) fn render(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url, title, id })
        }
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    CLEANER.clean(&html).to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_is_rendered() {
        let html = render("# Title\n\nSome *text* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>text</em>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn untrusted_html_is_removed() {
        let html = render(concat!(
            "<script>window.pwned=1</script>\n\n",
            "[click](javascript:window.pwned=2)\n\n",
            "<img src=x onerror=\"window.pwned=3\">\n\n",
            "<a href=\"javascript:alert(1)\" onclick=\"x()\">a</a>\n\n",
            "```\n--><script>window.pwned=4</script>\n```\n\n",
            "<!-- --><script>window.pwned=5</script> -->\n\n",
            "<div style=\"background:url(https://evil.example/)\">s</div>\n\n",
            "![logo](https://evil.example/logo.png)\n\n",
            "[ok](https://example.com/)\n",
        ));
        for bad in ["<script", "javascript:", "onerror", "onclick", "style=", "<img"] {
            assert!(!html.to_lowercase().contains(bad), "{bad} in {html}");
        }
        assert!(html.contains(r#"<a href="https://example.com/" rel="noopener nofollow">ok</a>"#), "{html}");
        // The image became a link to it (loaded only if the reader follows it).
        assert!(html.contains(r#"<a href="https://evil.example/logo.png" rel="noopener nofollow">logo</a>"#), "{html}");
        // Code keeps its text, escaped.
        assert!(html.contains("--&gt;&lt;script&gt;"), "{html}");
    }
}
