//! Data-parallel training: PyTorch's DistributedDataParallel contract on the
//! one [`Trainer`](crate::train::Trainer).
//!
//! Every rank (process) builds the same model from the same seed; the
//! trainer then copies rank 0's parameters and buffers to all ranks once (a
//! guard against a model built differently). Each step, every rank takes its
//! shard of the same global batch ([`Shard`]), computes its gradients, and the
//! trainer averages them over the ranks in one all-reduce of one flat buffer
//! (every gradient and the step's loss); every rank then applies the same
//! optimizer step, so the weights stay identical without being sent again.
//! Training metrics and validation are summed over the ranks, so every rank
//! holds the same record; only the caller decides that rank 0 prints and
//! writes files.
//!
//! The communication is a [`Collective`]: [`Mpi`] (feature `mpi`, Open MPI or
//! MPICH through the `mpi` crate) between processes started by `mpirun`, or
//! [`Local::group`] between threads of one process (tests, one machine).
//!
//! ```
//! use backprop::dist::{Collective, Local};
//! let ranks = Local::group(2);
//! let sums: Vec<Vec<f32>> = std::thread::scope(|s| {
//!     let handles: Vec<_> = ranks
//!         .into_iter()
//!         .map(|comm| {
//!             s.spawn(move || {
//!                 let mut buf = vec![comm.rank() as f32 + 1.0, 10.0];
//!                 comm.all_reduce_sum(&mut buf);
//!                 buf
//!             })
//!         })
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).collect()
//! });
//! assert_eq!(sums, vec![vec![3.0, 20.0], vec![3.0, 20.0]]);
//! ```

mod local;
#[cfg(feature = "mpi")]
mod mpi;

pub use local::Local;
#[cfg(feature = "mpi")]
pub use mpi::Mpi;

use crate::autograd::Param;
use crate::Tensor;

/// The collective operations data-parallel training needs, between `size`
/// ranks numbered from 0. Every rank must make the same calls, in the same
/// order, with buffers of the same length; a call returns once every rank
/// has made it. Implementations stop the process rather than return when a
/// rank is gone (a blocked collective cannot be cancelled).
pub trait Collective {
    /// This rank, in `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Replaces `buf` with its elementwise sum over all ranks.
    fn all_reduce_sum(&self, buf: &mut [f32]);
    /// Replaces `buf` with its elementwise sum over all ranks (counts and
    /// sums of metrics, in double precision).
    fn all_reduce_sum_f64(&self, buf: &mut [f64]);
    /// Replaces `buf` on every rank with rank `root`'s.
    fn broadcast(&self, buf: &mut [f32], root: usize);
}

/// Which part of each global batch a rank takes: rank `r` of `n` takes the
/// contiguous slice `[len·r/n, len·(r+1)/n)`, so shards differ in size by one
/// at most and together are the whole batch, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This rank.
    pub rank: usize,
    /// The number of ranks.
    pub size: usize,
}

impl Shard {
    /// The shard of `comm`'s rank.
    pub fn of(comm: &dyn Collective) -> Shard {
        Shard { rank: comm.rank(), size: comm.size().max(1) }
    }

    /// The range of a global batch of `len` items that this rank takes.
    ///
    /// ```
    /// use backprop::dist::Shard;
    /// assert_eq!(Shard { rank: 0, size: 2 }.range(5), 0..2);
    /// assert_eq!(Shard { rank: 1, size: 2 }.range(5), 2..5);
    /// ```
    pub fn range(&self, len: usize) -> std::ops::Range<usize> {
        len * self.rank / self.size..len * (self.rank + 1) / self.size
    }

    /// The factor that makes the mean loss of this rank's shard, averaged
    /// over the ranks, the mean loss of the global batch of `len` items:
    /// `shard length · size / len` (1 when shards are equal).
    pub fn loss_scale(&self, len: usize) -> f32 {
        (self.range(len).len() * self.size) as f32 / len.max(1) as f32
    }
}

/// Copies rank 0's values of `params` to every rank, in one broadcast.
pub fn broadcast_params(comm: &dyn Collective, params: &[(String, Param)]) {
    let mut flat: Vec<f32> = Vec::with_capacity(params.iter().map(|(_, p)| p.numel()).sum());
    for (_, p) in params {
        flat.extend_from_slice(p.value().data());
    }
    comm.broadcast(&mut flat, 0);
    let mut at = 0;
    for (_, p) in params {
        let n = p.numel();
        p.set_value(Tensor::from_vec(flat[at..at + n].to_vec(), &p.shape()));
        at += n;
    }
}

/// Averages the gradients of `params` and the step's `loss` over the ranks
/// in one all-reduce of one flat buffer, and returns the mean loss. A
/// parameter that backward did not reach counts as a zero gradient (it gets
/// one when another rank's gradient is not zero).
pub fn average_gradients(comm: &dyn Collective, params: &[(String, Param)], loss: f32) -> f32 {
    let total: usize = params.iter().map(|(_, p)| p.numel()).sum();
    let mut flat = Vec::with_capacity(total + 1);
    for (_, p) in params {
        match p.grad() {
            Some(g) => flat.extend_from_slice(g.data()),
            None => flat.resize(flat.len() + p.numel(), 0.0),
        }
    }
    flat.push(loss);
    comm.all_reduce_sum(&mut flat);
    let scale = 1.0 / comm.size().max(1) as f32;
    let mut at = 0;
    for (_, p) in params {
        let n = p.numel();
        let mean: Vec<f32> = flat[at..at + n].iter().map(|g| g * scale).collect();
        p.lock().grad = Some(Tensor::from_vec(mean, &p.shape()));
        at += n;
    }
    flat[total] * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order() {
        for len in [1, 2, 5, 64, 65] {
            for size in 1..5 {
                let ranges: Vec<_> = (0..size).map(|rank| Shard { rank, size }.range(len)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[size - 1].end, len);
                assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
                let scaled: f32 = (0..size).map(|rank| Shard { rank, size }.loss_scale(len)).sum::<f32>();
                // Shard means weighted by loss_scale and averaged = the global mean: the weights sum to size
                // over non-empty shards.
                assert!((scaled - size as f32).abs() < 1e-5, "len {len} size {size}: {scaled}");
            }
        }
    }
}
