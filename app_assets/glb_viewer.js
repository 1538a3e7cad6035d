// The app's 3D view: plays the result's animated GLB in sync with its sound, and turns with the mouse or a finger.
// Textured GLBs (a style's picture of the face) are drawn with their texture and vertex colours, as glTF says.
// Runs as gr.HTML's js_on_load (`element`, `props`, `watch` are given). No libraries: the GLB is parsed here
// (base mesh + morph targets + the "speech" animation's weight keyframes) and drawn with plain WebGL.
// The frame shown is always the one at audio.currentTime, so picture and sound cannot drift apart.
// For tests the root element exposes data-state ("loading", "ready", "error: ...") and data-time (s drawn).
(function () {
  const COMPONENT = { 5126: Float32Array, 5125: Uint32Array, 5123: Uint16Array, 5121: Uint8Array };
  const SIZE = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4 };

  function parseGlb(buffer) {
    const view = new DataView(buffer);
    if (view.getUint32(0, true) !== 0x46546c67) throw new Error('not a GLB file');
    const jsonLength = view.getUint32(12, true);
    const json = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 20, jsonLength)));
    const binStart = 20 + jsonLength + 8;
    const accessor = (i) => {
      const a = json.accessors[i];
      const bv = json.bufferViews[a.bufferView];
      const Type = COMPONENT[a.componentType];
      const n = a.count * SIZE[a.type];
      const offset = binStart + (bv.byteOffset || 0) + (a.byteOffset || 0);
      return new Type(buffer.slice(offset, offset + n * Type.BYTES_PER_ELEMENT));
    };
    const prim = json.meshes[0].primitives[0];
    const base = accessor(prim.attributes.POSITION);
    const targets = (prim.targets || []).map((t) => accessor(t.POSITION));
    let times = new Float32Array([0]), weights = new Float32Array(targets.length);
    const anim = (json.animations || [])[0];
    if (anim) {
      const sampler = anim.samplers[anim.channels[0].sampler];
      times = accessor(sampler.input);
      weights = accessor(sampler.output);
    }
    const material = (json.materials || [])[0];
    const color = material && material.pbrMetallicRoughness && material.pbrMetallicRoughness.baseColorFactor;
    let image = null;
    if (json.images && json.images.length && json.images[0].bufferView !== undefined) {
      const bv = json.bufferViews[json.images[0].bufferView];
      const start = binStart + (bv.byteOffset || 0);
      image = new Blob([buffer.slice(start, start + bv.byteLength)], { type: json.images[0].mimeType });
    }
    const attr = (name) => (prim.attributes[name] !== undefined ? accessor(prim.attributes[name]) : null);
    return { base, targets, times, weights, indices: accessor(prim.indices), color: color || [0.87, 0.62, 0.53, 1],
             uv: attr('TEXCOORD_0'), colors: attr('COLOR_0'), image };
  }

  // Positions at time t: the keyframe weights interpolated linearly (as glTF LINEAR does), then the morph sum.
  function positionsAt(glb, t, out) {
    const { base, targets, times, weights } = glb;
    out.set(base);
    const n = targets.length;
    if (!n) return out;
    let k = 0;
    while (k + 1 < times.length && times[k + 1] <= t) k++;
    const next = Math.min(k + 1, times.length - 1);
    const a = next === k ? 0 : Math.min(Math.max((t - times[k]) / (times[next] - times[k]), 0), 1);
    for (let j = 0; j < n; j++) {
      const w = (1 - a) * weights[k * n + j] + a * weights[next * n + j];
      if (w === 0) continue;
      const d = targets[j];
      for (let i = 0; i < out.length; i++) out[i] += w * d[i];
    }
    return out;
  }

  function normals(pos, idx, out) {
    out.fill(0);
    for (let f = 0; f < idx.length; f += 3) {
      const a = idx[f] * 3, b = idx[f + 1] * 3, c = idx[f + 2] * 3;
      const ux = pos[b] - pos[a], uy = pos[b + 1] - pos[a + 1], uz = pos[b + 2] - pos[a + 2];
      const vx = pos[c] - pos[a], vy = pos[c + 1] - pos[a + 1], vz = pos[c + 2] - pos[a + 2];
      const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
      for (const v of [a, b, c]) { out[v] += nx; out[v + 1] += ny; out[v + 2] += nz; }
    }
    return out;
  }

  const VS = `attribute vec3 p; attribute vec3 n; attribute vec2 uv; attribute vec3 c;
    uniform mat4 m; uniform mat4 proj; varying vec3 vn; varying vec2 vuv; varying vec3 vc;
    void main() { vn = mat3(m) * n; vuv = uv; vc = c; gl_Position = proj * m * vec4(p, 1.0); }`;
  const FS = `precision mediump float; varying vec3 vn; varying vec2 vuv; varying vec3 vc;
    uniform vec3 factor; uniform sampler2D tex;
    void main() { vec3 nn = normalize(vn); if (!gl_FrontFacing) nn = -nn;
      float d = max(dot(nn, normalize(vec3(0.3, 0.4, 1.0))), 0.0);
      // glTF: factor x texture x COLOR_0 (imitator writes sRGB vertex colours, white under the picture)
      vec3 color = factor * pow(texture2D(tex, vuv).rgb, vec3(2.2)) * pow(vc, vec3(2.2));
      gl_FragColor = vec4(pow(min(color * (0.3 + 0.8 * d), 1.0), vec3(1.0 / 2.2)), 1.0); }  // glTF colours are linear`;

  function program(gl) {
    const p = gl.createProgram();
    for (const [type, src] of [[gl.VERTEX_SHADER, VS], [gl.FRAGMENT_SHADER, FS]]) {
      const s = gl.createShader(type);
      gl.shaderSource(s, src);
      gl.compileShader(s);
      gl.attachShader(p, s);
    }
    gl.linkProgram(p);
    return p;
  }

  function matrices(yaw, pitch, distance, centre, aspect) {
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    // model: translate(-centre), rotate y (yaw) then x (pitch), push back by distance (column-major)
    const r = [cy, sp * sy, -cp * sy, 0, 0, cp, sp, 0, sy, -sp * cy, cp * cy, 0];
    const t = [-centre[0], -centre[1], -centre[2]];
    const m = new Float32Array(16);
    for (let c = 0; c < 3; c++) for (let row = 0; row < 3; row++) m[c * 4 + row] = r[c * 4 + row];
    for (let row = 0; row < 3; row++) m[12 + row] = r[row] * t[0] + r[4 + row] * t[1] + r[8 + row] * t[2];
    m[14] -= distance;
    m[15] = 1;
    const f = 1 / Math.tan(0.35), near = distance / 10, far = distance * 10;
    const proj = new Float32Array([f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1,
      0, 0, 2 * far * near / (near - far), 0]);
    return [m, proj];
  }

  async function start(root) {
    const canvas = root.querySelector('canvas'), audio = root.querySelector('audio');
    const button = root.querySelector('button.imv-play');
    root.dataset.state = 'loading';
    const glb = parseGlb(await (await fetch(root.dataset.glb)).arrayBuffer());
    const gl = canvas.getContext('webgl', { preserveDrawingBuffer: true, antialias: true });
    if (!gl) throw new Error('WebGL is not available in this browser');
    gl.getExtension('OES_element_index_uint');
    const prog = program(gl);
    gl.useProgram(prog);
    const pos = new Float32Array(glb.base.length), nrm = new Float32Array(glb.base.length);
    const pBuf = gl.createBuffer(), nBuf = gl.createBuffer(), iBuf = gl.createBuffer();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, iBuf);
    const idx = glb.indices instanceof Uint8Array ? new Uint16Array(glb.indices) : glb.indices;
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, idx, gl.STATIC_DRAW);
    const indexType = idx instanceof Uint32Array ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT;
    let lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < glb.base.length; i++) {
      lo[i % 3] = Math.min(lo[i % 3], glb.base[i]);
      hi[i % 3] = Math.max(hi[i % 3], glb.base[i]);
    }
    const centre = lo.map((l, i) => (l + hi[i]) / 2);
    const radius = Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) / 2;
    const view = { yaw: 0, pitch: 0, distance: radius * 3.2 };
    let drag = null;
    canvas.addEventListener('pointerdown', (e) => { drag = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener('pointerup', () => { drag = null; });
    canvas.addEventListener('pointermove', (e) => {
      if (!drag) return;
      view.yaw += (e.clientX - drag[0]) * 0.01;
      view.pitch = Math.max(-1.4, Math.min(1.4, view.pitch + (e.clientY - drag[1]) * 0.01));
      drag = [e.clientX, e.clientY];
    });
    canvas.addEventListener('wheel', (e) => {
      e.preventDefault();
      view.distance = Math.max(radius * 1.2, Math.min(radius * 10, view.distance * Math.exp(e.deltaY * 0.001)));
    }, { passive: false });
    button.addEventListener('click', () => (audio.paused ? audio.play() : audio.pause()));
    audio.addEventListener('play', () => { button.textContent = '❚❚ Pause'; });
    audio.addEventListener('pause', () => { button.textContent = '▶ Play'; });
    gl.enable(gl.DEPTH_TEST);
    const loc = (n) => gl.getAttribLocation(prog, n);
    const uni = (n) => gl.getUniformLocation(prog, n);
    gl.uniform3fv(uni('factor'), glb.color.slice(0, 3));
    // the face's picture (sRGB PNG), or one white texel for an untextured mesh
    gl.bindTexture(gl.TEXTURE_2D, gl.createTexture());
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    if (glb.image && glb.uv) {
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, await createImageBitmap(glb.image));
    } else {
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, 1, 1, 0, gl.RGB, gl.UNSIGNED_BYTE, new Uint8Array([255, 255, 255]));
    }
    for (const [data, name, size] of [[glb.uv, 'uv', 2], [glb.colors, 'c', 3]]) {  // constant where absent
      if (data) {
        gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
        gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
        gl.enableVertexAttribArray(loc(name));
        gl.vertexAttribPointer(loc(name), size, gl.FLOAT, false, 0, 0);
      } else if (size === 2) gl.vertexAttrib2f(loc(name), 0, 0);
      else gl.vertexAttrib3f(loc(name), 1, 1, 1);
    }
    const draw = () => {
      if (!root.isConnected) return;  // replaced by a newer result: stop this loop
      const w = canvas.clientWidth, h = canvas.clientHeight;
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      const t = audio.currentTime || 0;
      positionsAt(glb, t, pos);
      normals(pos, glb.indices, nrm);
      for (const [buf, data, name] of [[pBuf, pos, 'p'], [nBuf, nrm, 'n']]) {
        gl.bindBuffer(gl.ARRAY_BUFFER, buf);
        gl.bufferData(gl.ARRAY_BUFFER, data, gl.DYNAMIC_DRAW);
        gl.enableVertexAttribArray(loc(name));
        gl.vertexAttribPointer(loc(name), 3, gl.FLOAT, false, 0, 0);
      }
      const [m, proj] = matrices(view.yaw, view.pitch, view.distance, centre, w / Math.max(h, 1));
      gl.uniformMatrix4fv(uni('m'), false, m);
      gl.uniformMatrix4fv(uni('proj'), false, proj);
      gl.viewport(0, 0, w, h);
      gl.clearColor(0.12, 0.12, 0.14, 1);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      gl.drawElements(gl.TRIANGLES, idx.length, indexType, 0);
      root.dataset.time = t.toFixed(3);
      requestAnimationFrame(draw);
    };
    root.dataset.state = 'ready';
    draw();
  }

  const boot = () => {  // on load, and again whenever the result (the template's value) changes
    const root = element.querySelector('.imv');
    if (!root || !root.dataset.glb || root.dataset.state) return;
    start(root).catch((e) => {
      root.dataset.state = 'error: ' + e.message;
      const note = root.querySelector('.imv-note');
      if (note) note.textContent = 'The 3D view could not start (' + e.message + '); the video and downloads still work.';
    });
  };
  boot();
  if (typeof watch === 'function') watch('value', boot);
})();
