//! The one "split the work across threads above a size" helper.
//!
//! Every kernel that runs in parallel goes through [`for_each`] or [`map`]:
//! the work is cut into chunks of a fixed number of units (elements, or rows
//! with [`Rows`]), the chunks run on rayon's threads when the work holds at
//! least [`PARALLEL_MIN`] values, and on the calling thread otherwise. Chunk
//! boundaries do not depend on the thread count, so results (including
//! per-chunk partial sums) are the same on one thread or many.
//!
//! ```
//! use backprop::tensor::parallel::{self, Rows};
//! // Row sums of a [3, 2] matrix, one row per chunk.
//! let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let mut sums = [0.0f32; 3];
//! parallel::for_each((&mut sums[..], Rows(&x[..], 2)), 1, |_, (s, Rows(row, _))| {
//!     s[0] = row.iter().sum();
//! });
//! assert_eq!(sums, [3.0, 7.0, 11.0]);
//! ```

/// Work smaller than this many values runs on the calling thread.
///
/// How it was chosen: handing chunks to other threads costs a few
/// microseconds, about what one core spends on 10^4 to 10^5 simple
/// elementwise operations, so the break-even point lies between 2^14 and
/// 2^17 values. Before they shared this constant the kernels used 2^16
/// (elementwise maps, unary backward) and 2^15 (layer norm, causal softmax,
/// optimizer steps); 2^15 keeps W2's activations (batch 64 x 256 = 2^14
/// values) on one thread and splits W4's (2^18 values and up), and W2/W4
/// give the same losses with it. Re-tune with `cargo bench --bench
/// workloads` on an idle machine.
pub const PARALLEL_MIN: usize = 1 << 15;

/// The most threads worth asking for on this machine: 4 per core the OS
/// reports (`std::thread::available_parallelism`, 1 if it cannot tell).
/// More only queue behind each other, and a huge count (100000) spends
/// minutes and gigabytes starting threads; callers sizing a pool refuse
/// counts above it.
///
/// ```
/// let cap = backprop::tensor::parallel::max_threads();
/// assert!(cap >= 4 && cap % 4 == 0);
/// ```
pub fn max_threads() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `n`, or an [`Error::InvalidArgument`](crate::Error::InvalidArgument)
/// naming `what` (a flag, a variable) when `n` is more than [`max_threads`]:
/// a count such as 100000 spends minutes and gigabytes starting threads
/// that only queue, or aborts when memory for their stacks runs out.
///
/// ```
/// use backprop::tensor::parallel::{check_threads, max_threads};
/// assert_eq!(check_threads("--threads", 2).unwrap(), 2);
/// assert!(check_threads("--threads", max_threads() + 1).is_err());
/// ```
pub fn check_threads(what: &str, n: usize) -> crate::Result<usize> {
    let cap = max_threads();
    if n > cap {
        let why = format!("{n} is more than this machine can use: at most {cap} (4 per core, {} cores)", cap / 4);
        return Err(crate::Error::invalid(what, why));
    }
    Ok(n)
}

/// Stack size of the pool's threads: the main thread's 8 MiB, since
/// [`run_in_pool`] runs whole programs on one of them.
const POOL_STACK: usize = 8 << 20;

/// Runs `f` on a thread of rayon's global pool and returns what it returns;
/// the pool is first built with `threads` threads (`None`: the
/// `RAYON_NUM_THREADS` variable when it holds a positive count, else one per
/// core, as rayon does) unless it already exists.
///
/// Run training (or any program that calls the parallel kernels many times)
/// this way. A kernel called from outside the pool hands all of its work to
/// the pool's threads and puts the caller to sleep until they are done: two
/// thread wake-ups per kernel, tens of microseconds each on a virtual
/// machine, and the caller's core idle meanwhile. Called from a pool thread,
/// the caller takes a share of the work itself and the others steal the
/// rest (rayon's `join`). W2 of `bench/` at 2 threads (an MLP at batch 64),
/// on a 2-core AMD host: 0.56-0.74 s an epoch from outside the pool (slower
/// than 1 thread, 0.39-0.44 s), 0.31-0.47 s from inside.
///
/// `f` must be `Send`: create the model, data and trainer inside it (the
/// autograd graph is not `Send`).
///
/// # Errors
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when the count
/// (from `threads` or `RAYON_NUM_THREADS`) fails [`check_threads`], or the
/// pool already exists with another thread count than `threads`.
///
/// ```
/// use backprop::tensor::parallel::run_in_pool;
/// let sum = run_in_pool(None, || {
///     let x = backprop::Tensor::ones(&[1 << 16]);
///     x.sum_all()
/// })?;
/// assert_eq!(sum, 65536.0);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn run_in_pool<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> crate::Result<R> {
    let threads = match threads {
        Some(n) => Some(check_threads("threads", n)?),
        None => match std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
            Some(n) if n > 0 => Some(check_threads("RAYON_NUM_THREADS", n)?),
            _ => None,
        },
    };
    let built = rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or(0)).stack_size(POOL_STACK).build_global();
    if let Err(e) = built {
        let running = rayon::current_num_threads();
        if let Some(n) = threads.filter(|&n| n != running) {
            let why = format!("{n} threads asked, but the thread pool already runs {running} ({e})");
            return Err(crate::Error::invalid("threads", why));
        }
    }
    Ok(rayon::scope(|_| f()))
}

/// Elements per chunk for elementwise kernels: big enough to amortise a
/// task, small enough to balance load (32 KiB of `f32`, within L1/L2).
pub const CHUNK: usize = 1 << 13;

/// Work that splits into chunks of whole units: a slice (a unit is one
/// element), [`Rows`] (a unit is one row), or a tuple of up to four of these
/// with the same number of units, split together.
pub trait Split: Send + Sized {
    /// Number of units.
    fn units(&self) -> usize;
    /// Number of values (the largest over a tuple's parts): what decides
    /// whether to go parallel.
    fn values(&self) -> usize;
    /// The first `at` units and the rest.
    fn split_at(self, at: usize) -> (Self, Self);
}

/// A slice seen as rows of `.1` values: a unit is one row.
pub struct Rows<S>(pub S, pub usize);

impl<T: Sync> Split for &[T] {
    fn units(&self) -> usize {
        self.len()
    }
    fn values(&self) -> usize {
        self.len()
    }
    fn split_at(self, at: usize) -> (Self, Self) {
        <[T]>::split_at(self, at)
    }
}

impl<T: Send> Split for &mut [T] {
    fn units(&self) -> usize {
        self.len()
    }
    fn values(&self) -> usize {
        self.len()
    }
    fn split_at(self, at: usize) -> (Self, Self) {
        self.split_at_mut(at)
    }
}

impl<S: Split> Split for Rows<S> {
    fn units(&self) -> usize {
        self.0.units() / self.1.max(1)
    }
    fn values(&self) -> usize {
        self.0.values()
    }
    fn split_at(self, at: usize) -> (Self, Self) {
        let (a, b) = self.0.split_at(at * self.1);
        (Rows(a, self.1), Rows(b, self.1))
    }
}

macro_rules! split_tuple {
    ($($name:ident $a:ident $b:ident),*) => {
        impl<$($name: Split),*> Split for ($($name,)*) {
            fn units(&self) -> usize {
                #[allow(non_snake_case)]
                let ($($name,)*) = self;
                let mut n = usize::MAX;
                $(n = n.min($name.units());)*
                n
            }
            fn values(&self) -> usize {
                #[allow(non_snake_case)]
                let ($($name,)*) = self;
                let mut n = 0;
                $(n = n.max($name.values());)*
                n
            }
            fn split_at(self, at: usize) -> (Self, Self) {
                #[allow(non_snake_case)]
                let ($($name,)*) = self;
                $(let ($a, $b) = $name.split_at(at);)*
                (($($a,)*), ($($b,)*))
            }
        }
    };
}
split_tuple!(A a0 a1, B b0 b1);
split_tuple!(A a0 a1, B b0 b1, C c0 c1);
split_tuple!(A a0 a1, B b0 b1, C c0 c1, D d0 d1);
split_tuple!(A a0 a1, B b0 b1, C c0 c1, D d0 d1, E e0 e1);

/// Runs `f(index, chunk)` on consecutive chunks of `chunk` units (the last
/// may be shorter); `index` numbers the chunks from 0. In parallel when the
/// work holds at least [`PARALLEL_MIN`] values.
pub fn for_each<S: Split>(work: S, chunk: usize, f: impl Fn(usize, S) + Sync) {
    map(work, chunk, f);
}

/// Like [`for_each`] but collects what `f` returns for each chunk, in chunk
/// order (for per-chunk partial sums that are then added up in a fixed order).
pub fn map<S: Split, R: Send>(work: S, chunk: usize, f: impl Fn(usize, S) -> R + Sync) -> Vec<R> {
    let chunk = chunk.max(1);
    let chunks = work.units().div_ceil(chunk);
    let threads = rayon::current_num_threads();
    if work.values() >= PARALLEL_MIN && chunks > 1 && threads > 1 {
        // A few tasks per thread balance the load; more only add overhead.
        let per_task = chunks.div_ceil(threads * TASKS_PER_THREAD);
        split_run(work, 0, chunks, chunk, per_task, &f)
    } else {
        run_chunks(work, 0, chunks, chunk, &f)
    }
}

/// Tasks per thread when work is split: enough for threads that finish early
/// to steal from the others.
const TASKS_PER_THREAD: usize = 4;

/// Runs chunks `first..first + count` of `work` in order on this thread.
///
/// A generic x86-64 build compiles the kernels' loops for SSE2 (4 lanes); on
/// CPUs with AVX-512 or AVX2 the chunks run through a copy of this loop
/// compiled for them, `f` inlined into it, so they are vectorised for the
/// wider registers. The same operations in the same order: the same bits.
fn run_chunks<S: Split, R>(work: S, first: usize, count: usize, chunk: usize, f: &impl Fn(usize, S) -> R) -> Vec<R> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { run_chunks_avx512(work, first, count, chunk, f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { run_chunks_avx2(work, first, count, chunk, f) };
        }
    }
    run_chunks_loop(work, first, count, chunk, f)
}

/// [`run_chunks_loop`] compiled for CPUs with AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn run_chunks_avx512<S: Split, R>(
    work: S,
    first: usize,
    count: usize,
    chunk: usize,
    f: &impl Fn(usize, S) -> R,
) -> Vec<R> {
    run_chunks_loop(work, first, count, chunk, f)
}

/// [`run_chunks_loop`] compiled for CPUs with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_chunks_avx2<S: Split, R>(
    work: S,
    first: usize,
    count: usize,
    chunk: usize,
    f: &impl Fn(usize, S) -> R,
) -> Vec<R> {
    run_chunks_loop(work, first, count, chunk, f)
}

/// The loop of [`run_chunks`], inlined into each CPU-specific copy.
#[inline(always)]
fn run_chunks_loop<S: Split, R>(
    work: S,
    first: usize,
    count: usize,
    chunk: usize,
    f: &impl Fn(usize, S) -> R,
) -> Vec<R> {
    let mut out = Vec::with_capacity(count);
    let mut rest = work;
    for i in first..first + count {
        let take = chunk.min(rest.units());
        let (head, tail) = rest.split_at(take);
        out.push(f(i, head));
        rest = tail;
    }
    out
}

/// Splits chunks `first..first + count` in halves on rayon's pool until a
/// task holds at most `per_task` chunks.
fn split_run<S: Split, R: Send>(
    work: S,
    first: usize,
    count: usize,
    chunk: usize,
    per_task: usize,
    f: &(impl Fn(usize, S) -> R + Sync),
) -> Vec<R> {
    if count <= per_task {
        return run_chunks(work, first, count, chunk, f);
    }
    let half = count / 2;
    let (a, b) = work.split_at(half * chunk);
    let (mut left, right) = rayon::join(
        || split_run(a, first, half, chunk, per_task, f),
        || split_run(b, first + half, count - half, chunk, per_task, f),
    );
    left.extend(right);
    left
}

thread_local! {
    /// This thread's reusable buffer for [`with_scratch`].
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Scratch buffers this large or larger are freed after use, not kept.
const SCRATCH_KEEP_MAX: usize = 16 << 20;

/// Runs `f` on a buffer of `len` values owned by the calling thread and
/// reused by its later calls: kernels that need a large temporary per task
/// (a convolution's `im2col` matrix) then neither allocate nor zero it each
/// time, which for fresh memory means page faults and the kernel clearing
/// pages. The buffer holds whatever an earlier call left in it (or zeros):
/// `f` must write before it reads. A nested call gets a buffer of its own.
///
/// ```
/// use backprop::tensor::parallel::with_scratch;
/// let total = with_scratch(4, |buf| {
///     buf.copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
///     buf.iter().sum::<f32>()
/// });
/// assert_eq!(total, 10.0);
/// ```
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| s.take());
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let out = f(&mut buf[..len]);
    if buf.len() < SCRATCH_KEEP_MAX {
        SCRATCH.with(|s| s.replace(buf));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::run_in_pool;

    #[test]
    fn run_in_pool_runs_on_a_pool_thread_and_refuses_another_thread_count() {
        // Using the global pool first builds it, so run_in_pool finds it there.
        let running = rayon::current_num_threads();
        assert_eq!(run_in_pool(None, rayon::current_thread_index).unwrap().map(|i| i < running), Some(true));
        assert_eq!(run_in_pool(Some(running), || 7).unwrap(), 7);
        let err = run_in_pool(Some(running + 1), || ()).unwrap_err().to_string();
        assert!(err.contains(&format!("{} threads asked", running + 1)) && err.contains("already runs"), "{err}");
    }
}
