#version 330
// A full-screen triangle at the far plane, drawn after the mesh: the depth test skips the pixels that the
// face covers.
out vec2 uv;
void main() {
    uv = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    gl_Position = vec4(uv * 2.0 - 1.0, 1.0, 1.0);
}
