//! HTTP against a [`Server`]: fully read responses with assertion helpers, and the requests the
//! tests send (uploads in every shape the ChartMuseum API takes, the index).

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::data::truncate;
use crate::index::Index;
use crate::server::Server;
use crate::tools::{SIGNTEST_PROV, SIGNTEST_TGZ, read_testdata};

/// A fully read HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// What was requested, for assertion messages.
    pub what: String,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// All values of a header, joined with ", ".
    pub fn header_all(&self, name: &str) -> Option<String> {
        let vals: Vec<String> =
            self.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
        if vals.is_empty() { None } else { Some(vals.join(", ")) }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{}: expected a JSON body ({e}); status {}, body: {:?}", self.what, self.status, self.text())
        })
    }

    /// The string of a `{"error": "..."}` body (panics if the body is not of that shape).
    pub fn error_message(&self) -> String {
        let v = self.json();
        match v.get("error").and_then(Value::as_str) {
            Some(s) => s.to_owned(),
            None => panic!(
                "{}: expected a JSON body {{\"error\": \"<string>\"}}, got status {} body {:?}",
                self.what,
                self.status,
                self.text()
            ),
        }
    }

    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "{}: expected status {expected}, got {} with body {:?}",
            self.what,
            self.status,
            truncate(&self.text(), 2000)
        );
        self
    }

    #[track_caller]
    pub fn assert_json(&self, expected: Value) -> &Self {
        assert_eq!(self.json(), expected, "{}: unexpected JSON body", self.what);
        self
    }
}

impl Server {
    pub async fn send(&self, what: String, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap_or_else(|e| panic!("{what}: reading body failed: {e:?}")).to_vec();
        Resp { status, headers, body, what }
    }

    /// A request to `path` under the context path.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(format!("GET {path}"), self.req(Method::GET, path)).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut rb = self.req(Method::GET, path);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.send(format!("GET {path} {headers:?}"), rb).await
    }

    pub async fn head(&self, path: &str) -> Resp {
        self.send(format!("HEAD {path}"), self.req(Method::HEAD, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(format!("DELETE {path}"), self.req(Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let rb = self.req(Method::POST, path).header("Content-Type", content_type).body(body);
        self.send(format!("POST {path} ({content_type})"), rb).await
    }

    /// `curl --data-binary @chart.tgz <repo>/api/charts` (curl's default content type).
    pub async fn upload_raw(&self, tgz: Vec<u8>) -> Resp {
        self.post("/api/charts", "application/x-www-form-urlencoded", tgz).await
    }

    pub async fn upload_raw_query(&self, tgz: Vec<u8>, query: &str) -> Resp {
        self.post(&format!("/api/charts{query}"), "application/x-www-form-urlencoded", tgz).await
    }

    /// Multipart upload with parts named `chart` and/or `prov` (as `curl -F chart=@x.tgz`).
    pub async fn upload_multipart(
        &self,
        chart: Option<(&str, Vec<u8>)>,
        prov: Option<(&str, Vec<u8>)>,
        query: &str,
    ) -> Resp {
        let mut parts = Vec::new();
        if let Some((f, b)) = chart {
            parts.push(("chart", f, b));
        }
        if let Some((f, b)) = prov {
            parts.push(("prov", f, b));
        }
        self.upload_form(parts, query).await
    }

    /// Multipart upload with arbitrary field names: (field, file name, bytes).
    pub async fn upload_form(&self, parts: Vec<(&str, &str, Vec<u8>)>, query: &str) -> Resp {
        let mut form = reqwest::multipart::Form::new();
        let mut desc = Vec::new();
        for (field, fname, bytes) in parts {
            desc.push(format!("{field}={fname}"));
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(fname.to_owned())
                .mime_str("application/octet-stream")
                .expect("mime");
            form = form.part(field.to_owned(), part);
        }
        let path = format!("/api/charts{query}");
        let rb = self.req(Method::POST, &path).multipart(form);
        self.send(format!("POST {path} multipart [{}]", desc.join(", ")), rb).await
    }

    /// Uploads Helm's signed test chart with its provenance file (multipart) and asserts 201.
    pub async fn upload_signtest(&self) {
        self.upload_multipart(
            Some(("signtest-0.1.0.tgz", read_testdata(SIGNTEST_TGZ))),
            Some(("signtest-0.1.0.tgz.prov", read_testdata(SIGNTEST_PROV))),
            "",
        )
        .await
        .assert_status(201);
    }

    /// Uploads a chart (raw) and asserts 201 {"saved":true}.
    pub async fn upload_ok(&self, tgz: Vec<u8>) {
        let r = self.upload_raw(tgz).await;
        r.assert_status(201);
        r.assert_json(serde_json::json!({"saved": true}));
    }

    /// `GET /index.yaml`, asserting 200.
    pub async fn index_bytes(&self) -> Vec<u8> {
        let r = self.get("/index.yaml").await;
        r.assert_status(200);
        r.body
    }

    pub async fn index(&self) -> Index {
        Index::parse(&self.index_bytes().await)
    }

    /// A request to `path` (under the context path) with an optional `Authorization` value and
    /// body.
    pub async fn request_as(&self, method: Method, path: &str, auth: Option<&str>, body: Option<Vec<u8>>) -> Resp {
        let mut rb = self.req(method.clone(), path);
        if let Some(auth) = auth {
            rb = rb.header("Authorization", auth);
        }
        if let Some(body) = body {
            rb = rb.header("Content-Type", "application/octet-stream").body(body);
        }
        let who = auth.map_or("anonymous", |a| a.split(' ').next().unwrap_or("?"));
        self.send(format!("{method} {path} ({who})"), rb).await
    }

    /// `GET path` with an `Authorization` value.
    pub async fn get_as(&self, path: &str, auth: Option<&str>) -> Resp {
        self.request_as(Method::GET, path, auth, None).await
    }

    /// Exactly what `helm cm-push` sends (`chartmuseum/helm-push`, see helm-client.md §13): a
    /// `POST` of `multipart/form-data` with one part `chart` whose file name is the full path of
    /// its temporary copy and whose type is `application/octet-stream`, sent with
    /// `Transfer-Encoding: chunked` and no `Content-Length`; `auth` as the plugin sets it (Basic
    /// from `--username/--password`, else `Bearer <--access-token>`). `path` is the upload path
    /// under the context path (`/api/<tenant>/charts`).
    pub async fn cm_push(&self, path: &str, tgz: Vec<u8>, file_name: &str, auth: Option<&str>) -> Resp {
        let length_unknown = reqwest::Body::wrap_stream(one_chunk(tgz));
        let part = reqwest::multipart::Part::stream(length_unknown)
            .file_name(format!("/tmp/helm-push-1234/{file_name}"))
            .mime_str("application/octet-stream")
            .expect("mime");
        let form = reqwest::multipart::Form::new().part("chart", part);
        let mut rb = self.req(Method::POST, path).multipart(form);
        if let Some(auth) = auth {
            rb = rb.header("Authorization", auth);
        }
        self.send(format!("cm-push {path} ({})", auth.map_or("anonymous", |a| a.split(' ').next().unwrap_or("?"))), rb)
            .await
    }

    /// A request written on a plain TCP connection, path exactly as given: HTTP clients
    /// normalise `..` and `%2e%2e` away, a hostile client does not. Returns the status and body.
    pub async fn raw_request(&self, method: &str, raw_path: &str, auth: Option<&str>) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream =
            tokio::net::TcpStream::connect(("127.0.0.1", self.port())).await.expect("connect to the server");
        let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        let request = format!(
            "{method} {raw_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("send the request");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read the answer");
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }
}

/// A stream of one chunk: a body whose length reqwest does not know, so it is sent chunked.
fn one_chunk(data: Vec<u8>) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures::stream::once(async move { Ok(data) })
}
