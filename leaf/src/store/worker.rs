//! The database thread: owns the libsql connection and runs jobs one at a time.
//!
//! A job is a closure that receives a connection handle and returns a future; it runs on the
//! thread's own current-thread runtime, so its blocking calls never stall tokio's workers and
//! its future need not be `Send`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use libsql::{Builder, Connection, Database};
use tokio::sync::{mpsc, oneshot};

use super::{Location, StoreError, configure, migrations};

type Job = Box<dyn FnOnce(Connection) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

enum Request {
    Run(Job),
    Close(oneshot::Sender<()>),
}

#[derive(Debug, Clone)]
pub(super) struct Worker {
    requests: mpsc::UnboundedSender<Request>,
    in_memory: bool,
    closed: Arc<AtomicBool>,
}

impl Worker {
    /// Starts the thread, opens and migrates the database, and returns once it is usable.
    pub(super) async fn start(path: PathBuf, location: Location) -> Result<Self, StoreError> {
        let (requests, inbox) = mpsc::unbounded_channel();
        let (ready_tx, ready) = oneshot::channel();
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("leaf-db".into())
            .spawn(move || run(thread_path, location, inbox, ready_tx))
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                reason: format!("cannot start the database thread: {e}"),
            })?;
        ready.await.map_err(|_| StoreError::Open {
            path,
            reason: "the database thread ended during startup".into(),
        })??;
        Ok(Self {
            requests,
            in_memory: location == Location::Memory,
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(super) fn in_memory(&self) -> bool {
        self.in_memory
    }

    pub(super) async fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let _ = tx.send(f(conn).await);
            })
        });
        self.requests
            .send(Request::Run(job))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) async fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn run(
    path: PathBuf,
    location: Location,
    mut inbox: mpsc::UnboundedReceiver<Request>,
    ready: oneshot::Sender<Result<(), StoreError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(StoreError::Open {
                path,
                reason: format!("cannot start the database runtime: {e}"),
            }));
            return;
        }
    };
    runtime.block_on(async move {
        // The Database is kept beside the connection: it owns the file handle libsql shares.
        let (db, conn) = match open(&path, location).await {
            Ok(opened) => {
                let _ = ready.send(Ok(()));
                opened
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        while let Some(request) = inbox.recv().await {
            match request {
                Request::Run(job) => job(conn.clone()).await,
                Request::Close(done) => {
                    drop(conn);
                    drop(db);
                    let _ = done.send(());
                    return;
                }
            }
        }
    });
}

async fn open(path: &PathBuf, location: Location) -> Result<(Database, Connection), StoreError> {
    // Errors while opening carry the path and the promise that the file was left alone.
    let opening = |e: StoreError| match e {
        StoreError::Sql(e) => StoreError::Open {
            path: path.clone(),
            reason: e.to_string(),
        },
        other => other,
    };
    let db = Builder::new_local(path)
        .build()
        .await
        .map_err(|e| opening(e.into()))?;
    let conn = db.connect().map_err(|e| opening(e.into()))?;
    configure(&conn, location).await.map_err(opening)?;
    migrations::apply(&conn).await.map_err(opening)?;
    Ok((db, conn))
}
