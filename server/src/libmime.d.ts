/** The part of libmime (no bundled types) the mail header reader uses. */
declare module 'libmime' {
  const libmime: {
    /** Decodes RFC 2047 encoded words, in any charset iconv-lite knows. */
    decodeWords(value: string): string;
  };
  export default libmime;
}
