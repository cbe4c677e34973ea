//! A failure-injecting [`ObjectStore`] for tests (feature `faulty`): fails, hangs or delays chosen
//! calls, chosen by operation and by call number, so that a test can run a write with a fault at
//! each storage call in turn (count the calls of a clean run, then inject at call 0, 1, … n-1).
//!
//! It sits where a real store sits: `Storage::new(Arc::new(Faulty::new(InMemory::new())), …)`,
//! under the prefix and the instrumentation, so the code under test sees exactly what a failing
//! backend would give it. Every call is recorded ([`Faulty::calls`]) with its operation and key,
//! which is what a failing test prints.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::channel::oneshot;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions,
};

/// The operation of an object-store call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Put,
    Get,
    Head,
    List,
    Delete,
    Copy,
    Rename,
}

/// What happens to the chosen call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails without reaching the store (connection refused).
    Fail,
    /// The call reaches the store and takes effect, then the answer is lost (a timeout after the
    /// write committed): the caller sees an error for a change that happened.
    FailAfter,
    /// The call waits until [`Faulty::release`], then goes through (a stalled backend; a
    /// request whose client or timer gives up meanwhile).
    Hang,
    /// The call waits this long, then goes through.
    Delay(Duration),
}

/// One planned fault: the `nth` call (counted from 0 when the rule is set) among the calls of
/// `op` (any operation when `None`).
#[derive(Debug, Clone)]
struct Rule {
    op: Option<Op>,
    /// Only calls whose key contains this (any key when `None`).
    key_part: Option<String>,
    nth: usize,
    fault: Fault,
}

/// A recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    pub key: String,
}

/// See the module documentation.
pub struct Faulty<S> {
    inner: Arc<S>,
    plan: Arc<Plan>,
}

/// The calls and the fault plan, shared with the streams a call returns.
#[derive(Default)]
struct Plan {
    calls: Mutex<Vec<Call>>,
    /// Calls that matched the rule's filter since the rule was set.
    seen: AtomicUsize,
    rule: Mutex<Option<Rule>>,
    hung: Mutex<Vec<oneshot::Sender<()>>>,
}

impl<S> Faulty<S> {
    pub fn new(inner: S) -> Faulty<S> {
        Faulty { inner: Arc::new(inner), plan: Arc::default() }
    }

    /// From now on, the `nth` call (0-based) of `op` (of any operation with `None`) gets `fault`;
    /// replaces the previous rule. One fault per rule: the calls after it go through.
    pub fn inject(&self, op: Option<Op>, nth: usize, fault: Fault) {
        self.set_rule(Rule { op, key_part: None, nth, fault });
    }

    /// [`Faulty::inject`] counting only the calls of `op` on keys that contain `key_part`: one
    /// file's or one folder's calls, whatever other tasks (a replica's poller) call meanwhile.
    pub fn inject_on(&self, op: Op, key_part: &str, nth: usize, fault: Fault) {
        self.set_rule(Rule { op: Some(op), key_part: Some(key_part.to_owned()), nth, fault });
    }

    fn set_rule(&self, rule: Rule) {
        *lock(&self.plan.rule) = Some(rule);
        self.plan.seen.store(0, Ordering::SeqCst);
    }

    /// No fault any more (a hung call stays hung until [`Faulty::release`]).
    pub fn clear(&self) {
        *lock(&self.plan.rule) = None;
    }

    /// Lets every hung call go through.
    pub fn release(&self) {
        for waiter in lock(&self.plan.hung).drain(..) {
            let _ = waiter.send(());
        }
    }

    /// How many calls are hanging now (a hung call whose caller gave up does not count).
    pub fn hanging(&self) -> usize {
        lock(&self.plan.hung).iter().filter(|w| !w.is_canceled()).count()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.plan.calls).clone()
    }

    /// How many calls so far.
    pub fn call_count(&self) -> usize {
        lock(&self.plan.calls).len()
    }
}

impl Plan {
    /// Records a call and says which fault, if any, it gets.
    fn judge(&self, op: Op, key: &Path) -> Option<Fault> {
        lock(&self.calls).push(Call { op, key: key.to_string() });
        let rule = lock(&self.rule).clone()?;
        if rule.op.is_some_and(|o| o != op)
            || rule.key_part.as_ref().is_some_and(|k| !key.as_ref().contains(k.as_str()))
        {
            return None;
        }
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        (n == rule.nth).then_some(rule.fault)
    }

    /// Applies the fault before the call: `Err` for [`Fault::Fail`], waits for the others.
    async fn before(&self, fault: Option<Fault>) -> object_store::Result<()> {
        match fault {
            Some(Fault::Fail) => Err(injected()),
            Some(Fault::Hang) => {
                let (tx, rx) = oneshot::channel();
                lock(&self.hung).push(tx);
                let _ = rx.await;
                Ok(())
            }
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Some(Fault::FailAfter) | None => Ok(()),
        }
    }
}

/// Applies the fault after the call: [`Fault::FailAfter`] loses the answer.
fn after<T>(fault: Option<Fault>, result: object_store::Result<T>) -> object_store::Result<T> {
    match fault {
        Some(Fault::FailAfter) => result.and(Err(injected())),
        _ => result,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn injected() -> object_store::Error {
    object_store::Error::Generic { store: "Faulty", source: "injected fault: connection reset".into() }
}

impl<S> fmt::Debug for Faulty<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faulty").field("calls", &self.call_count()).finish_non_exhaustive()
    }
}

impl<S> fmt::Display for Faulty<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Faulty")
    }
}

/// A listing stream with a fault: a failed one yields its error first; a hung or delayed one
/// waits before its first item.
fn faulty_list(
    plan: Arc<Plan>,
    fault: Option<Fault>,
    inner: BoxStream<'static, object_store::Result<ObjectMeta>>,
) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
    match fault {
        None => inner,
        Some(Fault::Fail | Fault::FailAfter) => futures::stream::once(async { Err(injected()) }).boxed(),
        Some(fault) => futures::stream::once(async move { plan.before(Some(fault)).await })
            .filter_map(|_| async { None::<object_store::Result<ObjectMeta>> })
            .chain(inner)
            .boxed(),
    }
}

#[async_trait::async_trait]
impl<S: ObjectStore> ObjectStore for Faulty<S> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let fault = self.plan.judge(Op::Put, location);
        self.plan.before(fault).await?;
        after(fault, self.inner.put_opts(location, payload, opts).await)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let fault = self.plan.judge(Op::Put, location);
        self.plan.before(fault).await?;
        after(fault, self.inner.put_multipart_opts(location, opts).await)
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let fault = self.plan.judge(if options.head { Op::Head } else { Op::Get }, location);
        self.plan.before(fault).await?;
        after(fault, self.inner.get_opts(location, options).await)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let fault = self.plan.judge(Op::Get, location);
        self.plan.before(fault).await?;
        after(fault, self.inner.get_ranges(location, ranges).await)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // One deletion per location, each judged as it comes.
        let (inner, plan) = (Arc::clone(&self.inner), Arc::clone(&self.plan));
        locations
            .then(move |location| {
                let (inner, plan) = (Arc::clone(&inner), Arc::clone(&plan));
                async move {
                    let path = location?;
                    let fault = plan.judge(Op::Delete, &path);
                    plan.before(fault).await?;
                    let one = futures::stream::once(std::future::ready(Ok(path.clone()))).boxed();
                    let result = inner.delete_stream(one).next().await.unwrap_or(Ok(path));
                    after(fault, result)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let fault = self.plan.judge(Op::List, prefix.unwrap_or(&Path::default()));
        faulty_list(Arc::clone(&self.plan), fault, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let fault = self.plan.judge(Op::List, prefix.unwrap_or(&Path::default()));
        faulty_list(Arc::clone(&self.plan), fault, self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let fault = self.plan.judge(Op::List, prefix.unwrap_or(&Path::default()));
        self.plan.before(fault).await?;
        after(fault, self.inner.list_with_delimiter(prefix).await)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        let fault = self.plan.judge(Op::Copy, to);
        self.plan.before(fault).await?;
        after(fault, self.inner.copy_opts(from, to, options).await)
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        let fault = self.plan.judge(Op::Rename, to);
        self.plan.before(fault).await?;
        after(fault, self.inner.rename_opts(from, to, options).await)
    }
}
