//! A remote cache over the S3 API (`s3://bucket/prefix`) or HTTP/WebDAV
//! (`http(s)://host/path/`), through the `object_store` crate: one well-tested client
//! for AWS S3, R2, MinIO, Garage, Ceph and nginx's WebDAV module, so conduct does not
//! sign requests or speak WebDAV itself.
//!
//! `object_store` is async and conduct is not: each backend owns a small tokio runtime
//! (two worker threads, which drive the connections) and every call blocks on it, so
//! any number of conduct's threads may call at once. Every request is bounded (connect
//! and request timeouts, two retries within the request timeout, and a hard deadline
//! around the whole call): a dead or silent server is an error, never a hang.
//!
//! Credentials, region and endpoint come only from the standard environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...), read by `AmazonS3Builder::from_env`;
//! never from tasks.toml, and never printed: [`RemoteStore::describe`] and every error
//! leave out a URL's user and password.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::http::HttpBuilder;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig,
};

use super::{RemoteError, RemoteStore, is_cache_path};

/// How long the remote may take: per connection attempt, and per request (a retry
/// included). A call gives up after at most about `request` plus a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) request: Duration,
}

impl Default for Timeouts {
    /// Connect 2 s, request 30 s (issue 16).
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(30),
        }
    }
}

/// The S3 and HTTP/WebDAV backend.
pub(crate) struct ObjectStoreRemote {
    store: Arc<dyn ObjectStore>,
    /// Prepended to every object's path (`s3://bucket/<prefix>`); empty for HTTP,
    /// whose base URL already holds it.
    prefix: String,
    /// The URL without user or password, for messages.
    shown: String,
    /// The `user:password` of the URL, scrubbed from every error message.
    secret: Option<String>,
    deadline: Duration,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for ObjectStoreRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreRemote")
            .field("remote", &self.shown)
            .finish_non_exhaustive()
    }
}

impl ObjectStoreRemote {
    /// A backend for an `s3://`, `http://` or `https://` URL.
    pub(crate) fn open(url: &str, timeouts: Timeouts) -> Result<ObjectStoreRemote, RemoteError> {
        // TLS through ring (see Cargo.toml); installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let parsed = url::Url::parse(url)
            .map_err(|e| RemoteError(format!("not a remote cache URL: {}: {e}", shown(url))))?;
        let secret = userinfo(&parsed);
        let mut bare = parsed.clone();
        // Both setters only fail on URLs that cannot have a user (no host): then
        // there is none to leave out.
        let _ = bare.set_password(None);
        let _ = bare.set_username("");
        let shown = bare.to_string();
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: timeouts.request,
        };
        let options = ClientOptions::new()
            .with_connect_timeout(timeouts.connect)
            .with_timeout(timeouts.request);
        let built = match parsed.scheme() {
            "s3" => {
                let bucket = parsed.host_str().unwrap_or("");
                if bucket.is_empty() {
                    return Err(RemoteError(format!("no bucket in {shown}")));
                }
                // `from_env` also reads `AWS_ALLOW_HTTP` and friends into its client
                // options; set the timeouts as keys so as not to replace them.
                AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_config(
                        AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                        humantime::format_duration(timeouts.connect).to_string(),
                    )
                    .with_config(
                        AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                        humantime::format_duration(timeouts.request).to_string(),
                    )
                    .with_retry(retry)
                    .build()
                    .map(|store| Arc::new(store) as Arc<dyn ObjectStore>)
            }
            "http" | "https" => {
                // The store appends `cas/<hex>` as path segments: a trailing slash
                // would make an empty segment (`/path//cas/..`).
                let mut base = bare.clone();
                let trimmed = base.path().trim_end_matches('/').to_owned();
                base.set_path(&trimmed);
                let options = match basic_auth(&parsed) {
                    Some(header) => options.with_default_headers(header),
                    None => options,
                };
                HttpBuilder::new()
                    .with_url(base.as_str())
                    .with_client_options(options.with_allow_http(parsed.scheme() == "http"))
                    .with_retry(retry)
                    .build()
                    .map(|store| Arc::new(store) as Arc<dyn ObjectStore>)
            }
            other => {
                return Err(RemoteError(format!(
                    "{other}:// is not a remote this backend serves: {shown}"
                )));
            }
        };
        let store = built.map_err(|e| {
            RemoteError(scrub(
                &format!("cannot use remote cache {shown}: {e}"),
                secret.as_deref(),
            ))
        })?;
        let prefix = match parsed.scheme() {
            "s3" => parsed.path().trim_matches('/').to_owned(),
            _ => String::new(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("conduct-remote")
            .enable_all()
            .build()
            .map_err(|e| RemoteError(format!("cannot start the remote cache client: {e}")))?;
        Ok(ObjectStoreRemote {
            store,
            prefix,
            shown,
            secret,
            deadline: timeouts.request + Duration::from_secs(1),
            runtime,
        })
    }

    fn location(&self, path: &str) -> Result<Path, RemoteError> {
        // Paths are made by conduct (`cas/<hex>`, `ac/<hex>`): nothing else is asked for.
        if !is_cache_path(path) {
            return Err(RemoteError(format!("not a cache path: {path}")));
        }
        if self.prefix.is_empty() {
            Ok(Path::from(path))
        } else {
            Ok(Path::from(format!("{}/{path}", self.prefix)))
        }
    }

    /// Run `call` on the backend's runtime, bounded by the hard deadline.
    fn run<T>(
        &self,
        what: &str,
        path: &str,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T, RemoteError> {
        let deadline = self.deadline;
        let result = self
            .runtime
            .block_on(async move { tokio::time::timeout(deadline, call).await });
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.error(what, path, &e.to_string())),
            Err(_) => Err(self.error(
                what,
                path,
                &format!("no answer in {}", humantime::format_duration(deadline)),
            )),
        }
    }

    fn error(&self, what: &str, path: &str, why: &str) -> RemoteError {
        let mut one_line = why.split_whitespace().collect::<Vec<_>>().join(" ");
        // A server's HTML error page says nothing the status line did not.
        if let Some(page) = one_line
            .find("<html")
            .or_else(|| one_line.find("<!DOCTYPE"))
        {
            one_line.truncate(page);
            one_line.truncate(one_line.trim_end_matches([' ', ':']).len());
        }
        RemoteError(scrub(
            &format!("cannot {what} {path} on {}: {one_line}", self.shown),
            self.secret.as_deref(),
        ))
    }
}

impl RemoteStore for ObjectStoreRemote {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let location = self.location(path)?;
        let store = Arc::clone(&self.store);
        self.run("read", path, async move {
            match store.get(&location).await {
                Ok(found) => found.bytes().await.map(|bytes| Some(bytes.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn exists(&self, path: &str) -> Result<bool, RemoteError> {
        let location = self.location(path)?;
        let store = Arc::clone(&self.store);
        self.run("look at", path, async move {
            match store.head(&location).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), RemoteError> {
        let location = self.location(path)?;
        let store = Arc::clone(&self.store);
        let payload = PutPayload::from(bytes.to_vec());
        self.run("write", path, async move {
            store.put(&location, payload).await.map(|_| ())
        })
    }

    fn list(&self, prefix: &str) -> Result<Option<Vec<(String, u64)>>, RemoteError> {
        use futures_util::StreamExt;
        let location = self.location(prefix)?;
        let store = Arc::clone(&self.store);
        // Locations come back whole (`<prefix>/ac/<hex>` in a bucket); the caller's
        // paths are relative to the prefix.
        let under = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let deadline = self.deadline;
        // Each page (a request) is bounded, not the whole listing: a big bucket takes
        // one request per thousand objects, and that is progress, not a hang.
        let listed = self.runtime.block_on(async move {
            let mut pages = store.list(Some(&location));
            let mut found = Vec::new();
            loop {
                match tokio::time::timeout(deadline, pages.next()).await {
                    Err(_) => return Err(None),
                    Ok(None) => return Ok(found),
                    Ok(Some(Err(e))) => return Err(Some(e)),
                    Ok(Some(Ok(meta))) => {
                        let path = meta.location.as_ref();
                        let path = path.strip_prefix(under.as_str()).unwrap_or(path);
                        found.push((path.to_owned(), meta.size));
                    }
                }
            }
        });
        match listed {
            Ok(found) => Ok(Some(found)),
            Err(Some(e)) if cannot_list(&e) => Ok(None),
            Err(Some(e)) => Err(self.error("list", prefix, &e.to_string())),
            Err(None) => Err(self.error(
                "list",
                prefix,
                &format!("no answer in {}", humantime::format_duration(deadline)),
            )),
        }
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

/// `Authorization: Basic …` for the user and password of `url`, if it has them (URL
/// userinfo is percent-encoded; the header carries the decoded text).
fn basic_auth(url: &url::Url) -> Option<http::HeaderMap> {
    use base64::Engine;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(url.username());
    let password = decode(url.password().unwrap_or(""));
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = http::HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    Some(headers)
}

/// Whether `error` says the server does not list at all: nginx's stock WebDAV module
/// answers PROPFIND with 405, others with 501. That is what the server is, not a fault.
fn cannot_list(error: &object_store::Error) -> bool {
    if matches!(error, object_store::Error::NotImplemented { .. }) {
        return true;
    }
    // The status is inside object_store's private error types: read it from the
    // messages of the chain ("... status code: 405 Method Not Allowed ...").
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = cause {
        let text = e.to_string();
        if ["status code: 405", "status code: 501"]
            .iter()
            .any(|status| text.contains(status))
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The `user:password` part of `url`, if any.
fn userinfo(url: &url::Url) -> Option<String> {
    match (url.username(), url.password()) {
        ("", None) => None,
        (user, None) => Some(user.to_owned()),
        (user, Some(password)) => Some(format!("{user}:{password}")),
    }
}

/// `text` with every occurrence of `secret` (and of its password alone) blanked out.
fn scrub(text: &str, secret: Option<&str>) -> String {
    let Some(secret) = secret else {
        return text.to_owned();
    };
    let mut out = text.replace(secret, "***");
    if let Some((_, password)) = secret.split_once(':')
        && !password.is_empty()
    {
        out = out.replace(password, "***");
    }
    out
}

/// `url` for a message when it does not even parse: everything before an `@` dropped.
pub(crate) fn shown(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://{}", &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_never_shown() {
        let store = ObjectStoreRemote::open(
            "http://alice:hunter2@127.0.0.1:9/cache/",
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(store.describe(), "http://127.0.0.1:9/cache/");
        assert_eq!(
            scrub(
                "GET http://alice:hunter2@h/x: hunter2",
                Some("alice:hunter2")
            ),
            "GET http://***@h/x: ***"
        );
        assert_eq!(shown("http://a:b@[bad/x"), "http://[bad/x");
    }

    #[test]
    fn a_server_that_does_not_list_is_told_from_one_that_fails() {
        let generic = |text: &str| object_store::Error::Generic {
            store: "HTTP",
            source: text.to_owned().into(),
        };
        assert!(cannot_list(&generic(
            "Error performing PROPFIND http://h/c/ac in 1ms - Server returned non-2xx status code: 405 Method Not Allowed: <html>"
        )));
        assert!(cannot_list(&generic(
            "Server returned non-2xx status code: 501 Not Implemented: "
        )));
        assert!(cannot_list(&object_store::Error::NotImplemented {
            operation: "list".to_owned(),
            implementer: "HTTP".to_owned(),
        }));
        assert!(!cannot_list(&generic(
            "Server returned non-2xx status code: 500 Internal Server Error: "
        )));
        assert!(!cannot_list(&generic(
            "error sending request: connection refused"
        )));
    }

    #[test]
    fn s3_urls_need_a_bucket_and_keep_their_prefix() {
        assert!(ObjectStoreRemote::open("s3:///prefix", Timeouts::default()).is_err());
        let store = ObjectStoreRemote::open("s3://bucket/a/b/", Timeouts::default()).unwrap();
        assert_eq!(store.location("cas/ab").unwrap().as_ref(), "a/b/cas/ab");
        assert!(store.location("../x").is_err());
        assert!(store.location("cas//x").is_err());
    }
}
