#version 330
// The face and its parts, in world millimetres; lighting happens in camera space (face.frag).
uniform mat4 view;
uniform mat4 projection;
in vec3 in_position;
in vec3 in_normal;
in vec4 in_color;   // rgb: a flat sRGB albedo, or a multiplier (creases) on the texture; a: texture weight, or -1 inside the mouth
in vec2 in_uv;
out vec3 v_position;
out vec3 v_normal;
out vec4 v_color;
out vec2 v_uv;
void main() {
    vec4 p = view * vec4(in_position, 1.0);
    v_position = p.xyz;
    v_normal = mat3(view) * in_normal;
    v_color = vec4(pow(in_color.rgb, vec3(1.1)), in_color.a);  // half of to_linear's 2.2 (face.frag)
    v_uv = in_uv;
    gl_Position = projection * p;
}
