//! Where database jobs run, one at a time.
//!
//! A job is a closure that receives a connection handle and returns a future.
//! - [`Worker::thread`] (files, production): a dedicated thread with its own current-thread
//!   runtime owns the connection, so libsql's blocking calls never stall tokio's workers.
//! - [`Worker::inline`] (in-memory, tests and leaf-sim): jobs run on the caller's task behind
//!   an async mutex. An in-memory database answers in microseconds, and no second thread
//!   means a simulation's outcome cannot depend on thread scheduling.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::FutureExt;
use libsql::{Builder, Connection, Database};
use tokio::sync::{mpsc, oneshot};

use super::{Location, StoreError, configure, migrations};

type Job = Box<dyn FnOnce(Connection) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

enum Request {
    Run(Job),
    Close(oneshot::Sender<()>),
}

#[derive(Debug, Clone)]
pub(super) enum Worker {
    Thread(ThreadWorker),
    Inline(InlineWorker),
}

impl Worker {
    pub(super) async fn thread(path: PathBuf) -> Result<Self, StoreError> {
        ThreadWorker::start(path, Location::File)
            .await
            .map(Worker::Thread)
    }

    pub(super) async fn inline() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let (db, conn) = open(&path, Location::Memory).await?;
        Ok(Worker::Inline(InlineWorker {
            open: Arc::new(tokio::sync::Mutex::new(Some((db, conn)))),
        }))
    }

    pub(super) fn in_memory(&self) -> bool {
        matches!(self, Worker::Inline(_))
    }

    pub(super) async fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        match self {
            Worker::Thread(w) => w.call(f).await,
            Worker::Inline(w) => w.call(f).await,
        }
    }

    pub(super) async fn close(&self) {
        match self {
            Worker::Thread(w) => w.close().await,
            Worker::Inline(w) => w.close().await,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct InlineWorker {
    // An async mutex: it is held across the job's awaits, which is what serialises jobs.
    open: Arc<tokio::sync::Mutex<Option<(Database, Connection)>>>,
}

impl InlineWorker {
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let open = self.open.lock().await;
        let (_, conn) = open.as_ref().ok_or(StoreError::Closed)?;
        f(conn.clone()).await
    }

    async fn close(&self) {
        self.open.lock().await.take();
    }
}

/// Jobs that may wait for the database thread. Past this, callers get [`StoreError::Busy`] at
/// once: a stalled disk must not turn polling clients into unbounded memory.
const QUEUE_CAPACITY: usize = 1024;

#[derive(Debug, Clone)]
pub(super) struct ThreadWorker {
    requests: mpsc::Sender<Request>,
    closed: Arc<AtomicBool>,
}

impl ThreadWorker {
    /// Starts the thread, opens and migrates the database, and returns once it is usable.
    async fn start(path: PathBuf, location: Location) -> Result<Self, StoreError> {
        let (requests, inbox) = mpsc::channel(QUEUE_CAPACITY);
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
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let _ = tx.send(f(conn).await);
            })
        });
        self.requests
            .try_send(Request::Run(job))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Busy,
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        // The thread drops a job's answer only when the job panicked.
        rx.await.map_err(|_| {
            if self.requests.is_closed() {
                StoreError::Closed
            } else {
                StoreError::Panicked
            }
        })?
    }

    async fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn run(
    path: PathBuf,
    location: Location,
    mut inbox: mpsc::Receiver<Request>,
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
                Request::Run(job) => {
                    // A panicking job must not take the database down for everyone after it.
                    let run = AssertUnwindSafe(job(conn.clone())).catch_unwind();
                    if run.await.is_err() {
                        tracing::error!("a database job panicked; the database thread carries on");
                    }
                }
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
