//! A [`Collective`] between threads of one process: data-parallel training
//! without MPI (tests; trying the contract on one machine).

use super::Collective;
use std::sync::{Arc, Barrier, Mutex};

/// One rank of a group of threads made by [`Local::group`]; give each rank to
/// its own thread. Sums are taken in double precision in rank order, so
/// every rank gets the same bits.
///
/// A rank that stops making calls (a thread that returned early or
/// panicked) leaves the others waiting: use it where all ranks run the same
/// code to the end, as in tests.
pub struct Local {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    size: usize,
    barrier: Barrier,
    /// The buffer being reduced or broadcast.
    values: Mutex<Vec<f64>>,
    /// How many ranks have added their buffer to `values` (sums go in rank order).
    added: Mutex<usize>,
    turn: std::sync::Condvar,
}

impl Local {
    /// `size` ranks (at least 1), numbered 0 to `size - 1`.
    pub fn group(size: usize) -> Vec<Local> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            size,
            barrier: Barrier::new(size),
            values: Mutex::new(Vec::new()),
            added: Mutex::new(0),
            turn: std::sync::Condvar::new(),
        });
        (0..size).map(|rank| Local { rank, shared: shared.clone() }).collect()
    }

    fn values(&self) -> std::sync::MutexGuard<'_, Vec<f64>> {
        self.shared.values.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sums `buf` over the ranks, each rank adding in turn (rank order).
    fn reduce(&self, buf: &[f64]) -> Vec<f64> {
        let s = &self.shared;
        s.barrier.wait(); // every rank has read the previous result
        if self.rank == 0 {
            *self.values() = vec![0.0; buf.len()];
            *s.added.lock().unwrap_or_else(|p| p.into_inner()) = 0;
        }
        s.barrier.wait();
        let mut added = s.added.lock().unwrap_or_else(|p| p.into_inner());
        while *added != self.rank {
            added = s.turn.wait(added).unwrap_or_else(|p| p.into_inner());
        }
        for (v, b) in self.values().iter_mut().zip(buf) {
            *v += b;
        }
        *added += 1;
        s.turn.notify_all();
        drop(added);
        s.barrier.wait();
        self.values().clone()
    }
}

impl Collective for Local {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) {
        let wide: Vec<f64> = buf.iter().map(|&v| v as f64).collect();
        for (b, s) in buf.iter_mut().zip(self.reduce(&wide)) {
            *b = s as f32;
        }
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) {
        let sum = self.reduce(buf);
        buf.copy_from_slice(&sum);
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) {
        let s = &self.shared;
        s.barrier.wait();
        if self.rank == root {
            *self.values() = buf.iter().map(|&v| v as f64).collect();
        }
        s.barrier.wait();
        for (b, v) in buf.iter_mut().zip(self.values().iter()) {
            *b = *v as f32;
        }
    }
}
