//! Reading tensors back to the host. WebGPU only allows asynchronous reads, so every read in the
//! crate goes through the async functions here, on every device; native callers (the CLI, the
//! tests) wait for them with [`block_on`].

use burn::tensor::Tensor;

/// The values of a tensor as f32, row-major.
pub async fn floats<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    t.into_data_async()
        .await
        .map_err(|e| format!("device read failed: {e:?}"))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| format!("device read gave no f32 values: {e:?}"))
}

/// The single value of a one-element tensor.
pub async fn scalar(t: Tensor<1>) -> Result<f32, String> {
    let v = floats(t).await?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(format!(
            "expected one value, the device returned {}",
            v.len()
        )),
    }
}

/// Runs a future to completion on this thread: park until its waker fires, poll again. CPU
/// backends finish their reads at the first poll; native wgpu wakes the thread when its copy
/// lands. Not on wasm, where the browser's event loop must run the future instead.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}
