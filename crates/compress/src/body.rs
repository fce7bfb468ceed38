//! The compressed body: each chunk from the origin is encoded and flushed at once (so a
//! stream of events or a long poll reaches the client as it is written), the coding's end
//! written when the origin's body ends, trailers passed after it. Memory is one chunk's
//! worth of output at a time.
use bytes::Bytes;
use compression_codecs::EncodeV2;
use compression_core::util::{PartialBuffer, WriteBuffer};
use forecourt_proxy::body::{BoxError, ProxyBody};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct Compressed {
    inner: ProxyBody,
    encoder: Box<dyn EncodeV2>,
    /// Trailers to send after the coding's end.
    trailers: Option<HeaderMap>,
    done: bool,
}

impl Compressed {
    pub fn new(inner: ProxyBody, encoder: Box<dyn EncodeV2>) -> Compressed {
        Compressed { inner, encoder, trailers: None, done: false }
    }

    /// Runs `step` until it says it is done, growing the output as it fills.
    fn drive(
        out: &mut Vec<u8>,
        mut step: impl FnMut(&mut WriteBuffer<'_>) -> std::io::Result<bool>,
    ) -> std::io::Result<()> {
        loop {
            let start = out.len();
            let room = (out.capacity() - start).max(8 * 1024);
            out.resize(start + room, 0);
            let mut w = WriteBuffer::new_initialized(&mut out[start..]);
            let finished = step(&mut w);
            let written = w.written_len();
            out.truncate(start + written);
            if finished? && written < room {
                return Ok(());
            }
        }
    }

    /// `input` encoded and flushed.
    fn encode(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() / 2 + 256);
        let mut input = PartialBuffer::new(input);
        let encoder = &mut self.encoder;
        Self::drive(&mut out, |w| {
            encoder.encode(&mut input, w)?;
            Ok(input.unwritten().is_empty())
        })?;
        Self::drive(&mut out, |w| encoder.flush(w))?;
        Ok(out)
    }

    fn finish(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        let encoder = &mut self.encoder;
        Self::drive(&mut out, |w| encoder.finish(w))?;
        Ok(out)
    }
}

impl Body for Compressed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let out = this.encode(&data)?;
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                        }
                    }
                    Err(frame) => this.trailers = frame.into_trailers().ok(),
                },
                Poll::Ready(None) => {
                    this.done = true;
                    let out = this.finish()?;
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Levels;
    use compression_codecs::{BrotliEncoder, GzipEncoder, ZstdEncoder};
    use compression_core::Level;
    use http_body_util::{BodyExt, StreamBody};
    use std::io::Read;

    /// A body of `chunks`, each its own frame.
    fn chunked(chunks: Vec<Bytes>) -> ProxyBody {
        let frames = chunks.into_iter().map(|c| Ok::<_, BoxError>(Frame::data(c)));
        let mut body = ProxyBody::empty();
        body.wrap_with(|_| StreamBody::new(futures_util::stream::iter(frames)));
        body
    }

    #[tokio::test]
    async fn each_coding_round_trips_and_each_chunk_is_flushed() {
        let text: Vec<Bytes> =
            (0..50).map(|i| Bytes::from(format!("<p>line {i} of a page that repeats</p>\n").repeat(40))).collect();
        let whole: Vec<u8> = text.iter().flat_map(|b| b.iter().copied()).collect();
        let l = Levels::default();
        let encoders: Vec<(&str, Box<dyn EncodeV2>)> = vec![
            ("gzip", Box::new(GzipEncoder::new(Level::Precise(l.gzip as i32).into()))),
            (
                "br",
                Box::new(BrotliEncoder::new(
                    compression_codecs::brotli::params::EncoderParams::default().quality(Level::Precise(l.br as i32)),
                )),
            ),
            ("zstd", Box::new(ZstdEncoder::new(l.zstd))),
        ];
        for (name, encoder) in encoders {
            let mut body = Compressed::new(chunked(text.clone()), encoder);
            let mut frames = 0;
            let mut coded = Vec::new();
            while let Some(frame) = body.frame().await {
                coded.extend_from_slice(&frame.unwrap().into_data().unwrap());
                frames += 1;
            }
            assert_eq!(frames, 51, "{name}: one frame per origin chunk, and the end");
            assert!(coded.len() < whole.len() / 4, "{name}: {} of {}", coded.len(), whole.len());
            let mut decoded = Vec::new();
            match name {
                "gzip" => flate2::read::GzDecoder::new(&coded[..]).read_to_end(&mut decoded).unwrap(),
                "br" => brotli::Decompressor::new(&coded[..], 4096).read_to_end(&mut decoded).unwrap(),
                _ => zstd::stream::read::Decoder::new(&coded[..]).unwrap().read_to_end(&mut decoded).unwrap(),
            };
            assert_eq!(decoded, whole, "{name}");
        }
    }
}
