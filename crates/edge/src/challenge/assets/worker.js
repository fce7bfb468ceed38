// Forecourt's challenge: find a nonce (decimal digits) such that SHA-256(puzzle + nonce)
// starts with `difficulty` zero bits. SHA-256 is written out here rather than taken from
// crypto.subtle, which plain-HTTP pages do not have and which costs a promise per hash.
(function () {
'use strict';
var K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
]);
var W = new Int32Array(64);
var H = new Int32Array(8);

function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

// SHA-256 of bytes[0..len) into H; `bytes` has room for the padding.
function sha256(bytes, len) {
  var blocks = (len + 9 + 63) >> 6;
  bytes.fill(0, len, blocks * 64);
  bytes[len] = 0x80;
  var bits = len * 8;
  var end = blocks * 64;
  bytes[end - 4] = bits >>> 24; bytes[end - 3] = bits >>> 16; bytes[end - 2] = bits >>> 8; bytes[end - 1] = bits;
  H[0] = 0x6a09e667; H[1] = 0xbb67ae85; H[2] = 0x3c6ef372; H[3] = 0xa54ff53a;
  H[4] = 0x510e527f; H[5] = 0x9b05688c; H[6] = 0x1f83d9ab; H[7] = 0x5be0cd19;
  for (var b = 0; b < end; b += 64) {
    for (var i = 0; i < 16; i++) {
      var j = b + i * 4;
      W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (i = 16; i < 64; i++) {
      var w15 = W[i - 15], w2 = W[i - 2];
      var s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3);
      var s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    var a = H[0], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7], bb = H[1];
    for (i = 0; i < 64; i++) {
      var t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
    }
    H[0] = (H[0] + a) | 0; H[1] = (H[1] + bb) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
    H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
  }
}

function zeroBits() {
  var bits = 0;
  for (var i = 0; i < 8; i++) {
    if (H[i] !== 0) return bits + Math.clz32(H[i]);
    bits += 32;
  }
  return bits;
}

self.onmessage = function (e) {
  var puzzle = e.data.puzzle, difficulty = e.data.difficulty;
  var bytes = new Uint8Array(puzzle.length + 32 + 72);
  for (var i = 0; i < puzzle.length; i++) bytes[i] = puzzle.charCodeAt(i) & 0xff;
  for (var nonce = 0; ; nonce++) {
    var digits = String(nonce), len = puzzle.length;
    for (var k = 0; k < digits.length; k++) bytes[len++] = digits.charCodeAt(k);
    sha256(bytes, len);
    if (zeroBits() >= difficulty) {
      postMessage({ nonce: digits, tried: nonce + 1 });
      return;
    }
    if ((nonce & 0x3fff) === 0) postMessage({ tried: nonce });
  }
};
})();
