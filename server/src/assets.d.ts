/** Text assets bundled by esbuild's text loader (scripts/build.mjs). */
declare module '*.sh' {
  const text: string;
  export default text;
}
