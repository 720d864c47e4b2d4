//! An S3-compatible server on loopback for the object-store backend's
//! tests: `s3s-fs` (the S3 protocol, SigV4 signatures included, over a
//! temporary directory), served on its own thread, so a test that blocks
//! on the store does not stop the server answering. It counts the parts of
//! multipart uploads it receives.

use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use sluice_vault::ObjectStoreConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub const ACCESS_KEY: &str = "sluice-test-access";
pub const SECRET_KEY: &str = "sluice-test-secret-0123456789";
pub const BUCKET: &str = "sluice-files";

pub struct TestObjectStore {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    parts: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl TestObjectStore {
    /// Starts a server with the bucket [`BUCKET`] in it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a directory for the object store");
        std::fs::create_dir(dir.path().join(BUCKET)).expect("the bucket");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-object-store")
            .enable_all()
            .build()
            .expect("the object store's runtime");
        let filesystem = s3s_fs::FileSystem::new(dir.path()).expect("the object store's files");
        let mut builder = S3ServiceBuilder::new(filesystem);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let parts = Arc::new(AtomicUsize::new(0));
        // Bound here (a test may start the server from async code, where
        // blocking on the runtime is not allowed), served there.
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the object store");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("the port").port();
        let counted = parts.clone();
        runtime.spawn(async move {
            use hyper::service::Service;
            let listener = tokio::net::TcpListener::from_std(listener).expect("the listener");
            use hyper_util::rt::{TokioExecutor, TokioIo};
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                let counted = counted.clone();
                let counting = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let part = request.method() == hyper::Method::PUT
                            && request
                                .uri()
                                .query()
                                .is_some_and(|q| q.contains("partNumber="));
                        if part {
                            counted.fetch_add(1, Ordering::SeqCst);
                        }
                        Service::call(&service, request)
                    },
                );
                let connection = http
                    .serve_connection(TokioIo::new(socket), counting)
                    .into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            parts,
            runtime: Some(runtime),
            _dir: dir,
        }
    }

    /// The parts of multipart uploads received so far.
    pub fn parts_received(&self) -> usize {
        self.parts.load(Ordering::SeqCst)
    }

    /// How a store reaches the bucket, its objects under `prefix`.
    pub fn config(&self, prefix: &str) -> ObjectStoreConfig {
        ObjectStoreConfig {
            url: format!("s3://{BUCKET}/{prefix}"),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: Some(ACCESS_KEY.to_owned().into()),
            secret_access_key: Some(SECRET_KEY.to_owned().into()),
            allow_http: false,
            part_size: 5 * 1024 * 1024,
        }
    }

    /// The settings a `sluice` process takes to use the bucket (its
    /// objects under `prefix`), its own staging directory `staging`.
    pub fn env(&self, prefix: &str, staging: &std::path::Path) -> Vec<(&'static str, String)> {
        vec![
            ("SLUICE_STORAGE", staging.display().to_string()),
            ("SLUICE_STORAGE_URL", format!("s3://{BUCKET}/{prefix}")),
            ("SLUICE_STORAGE_ENDPOINT", self.endpoint.clone()),
            ("SLUICE_STORAGE_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("SLUICE_STORAGE_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("SLUICE_STORAGE_PART_MIB", "5".into()),
        ]
    }
}

impl Drop for TestObjectStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
