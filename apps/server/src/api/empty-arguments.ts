import { GraphQLError, Lexer, Source, TokenKind } from "graphql";

/**
 * The query text without empty argument lists: `workerPools()` becomes `workerPools`.
 *
 * The Spacelift clients' GraphQL library copies a field's argument list verbatim from a
 * Go struct tag, and the Terraform provider tags some fields `workerPools()` and
 * `policies()`. GraphQL's grammar refuses an empty `()`, but Spacelift's server accepts
 * it, so Stackyard removes it before mercurius parses the text. Only a `(` token directly
 * followed by a `)` token is removed, found with graphql-js's own lexer, so parentheses
 * inside strings, block strings and comments are left alone. Text the lexer cannot read
 * is returned unchanged, for the parser to report its syntax error.
 */
export function removeEmptyArgumentLists(query: string): string {
  if (!/\(\s*\)/.test(query)) return query;
  const lexer = new Lexer(new Source(query));
  const cuts: Array<[number, number]> = [];
  try {
    let previous = lexer.token;
    for (
      let token = lexer.advance();
      token.kind !== TokenKind.EOF;
      token = lexer.advance()
    ) {
      if (
        token.kind === TokenKind.PAREN_R &&
        previous.kind === TokenKind.PAREN_L
      )
        cuts.push([previous.start, token.end]);
      previous = token;
    }
  } catch (err) {
    if (err instanceof GraphQLError) return query;
    throw err;
  }
  let out = "";
  let from = 0;
  for (const [start, end] of cuts) {
    out += query.slice(from, start);
    from = end;
  }
  return out + query.slice(from);
}
