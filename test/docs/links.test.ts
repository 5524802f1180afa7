/**
 * The project's documents point only at what the repository holds: every relative link of
 * README.md, docs/*.md and bench/README.md names a file that exists, every `#anchor` names a
 * heading of its target (GitHub's slugs, github-slugger), and every repository path written as
 * code (`cluster/cluster.ts`, `docs/config.md`) exists. No document names one the repository does
 * not contain or cites an issue number.
 *
 * Markdown is read with marked's lexer (links, headings, code spans; code blocks are left alone).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';
import { marked, type Token, type Tokens } from 'marked';
import { describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The documents checked, relative to the repository root. */
function listDocuments(): string[] {
  const docs = readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', 'bench/README.md', ...docs];
}

/** The text a heading shows (what GitHub slugs): its inline tokens without the markup. */
function getPlainText(tokens: readonly Token[]): string {
  return tokens
    .map((token) => {
      if ('tokens' in token && Array.isArray(token.tokens) && token.tokens.length > 0) return getPlainText(token.tokens);
      if (token.type === 'text' || token.type === 'codespan' || token.type === 'escape') return (token as Tokens.Text).text;
      return '';
    })
    .join('');
}

/** GitHub's anchors of a markdown text's headings (`## I/O path` → `io-path`; repeats get `-1`, `-2`). */
export function getAnchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  marked.walkTokens(marked.lexer(markdown), (token) => {
    if (token.type === 'heading') anchors.add(slugger.slug(getPlainText((token as Tokens.Heading).tokens)));
  });
  return anchors;
}

/**
 * A code span that reads as a path in this repository: a folder and a file with an extension
 * (`cluster/cluster.ts`), or a markdown file (`docs/api.md`). Build output, installed packages and
 * placeholders (`<state dir>/lock`, `$TMPDIR/…`) are not such paths.
 */
function isRepositoryPath(text: string): boolean {
  if (!/^[\w@.-]+(\/[\w@.-]+)*\.(md|ts|mjs|js|c|h|cc|json|yaml|sh|gyp)$/.test(text)) return false;
  if (/^(dist|node_modules|native\/build)\//.test(text) || text.startsWith('.')) return false;
  return text.includes('/') || text.endsWith('.md');
}

/** Every problem of one document: a link, anchor or path that does not resolve, an outside document or an issue number. */
export function findBrokenReferences(file: string, markdown: string, readTarget: (file: string) => string | null): string[] {
  const problems: string[] = [];
  const dir = path.posix.dirname(file);
  const checkLink = (href: string) => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(href)) return; // https:, mailto: — outside links are not checked here
    const [rawPath = '', rawAnchor] = href.split('#', 2);
    const targetPath = decodeURIComponent(rawPath.split('?', 1)[0]!);
    const target = targetPath === '' ? file : path.posix.normalize(path.posix.join(dir, targetPath));
    if (target.startsWith('../')) {
      problems.push(`${file}: link ${href} leaves the repository`);
      return;
    }
    const text = target === file ? markdown : readTarget(target);
    if (text === null) {
      problems.push(`${file}: link ${href}: ${target} does not exist`);
      return;
    }
    if (rawAnchor === undefined || rawAnchor === '') return;
    if (!target.endsWith('.md')) {
      problems.push(`${file}: link ${href}: an anchor into ${target}, which is not a markdown file`);
      return;
    }
    const anchor = decodeURIComponent(rawAnchor);
    if (!getAnchors(text).has(anchor)) problems.push(`${file}: link ${href}: ${target} has no heading #${anchor}`);
  };
  marked.walkTokens(marked.lexer(markdown), (token) => {
    if (token.type === 'link' || token.type === 'image') checkLink((token as Tokens.Link).href);
    if (token.type === 'codespan') {
      const text = (token as Tokens.Codespan).text;
      if (!isRepositoryPath(text)) return;
      const candidates = [path.posix.normalize(path.posix.join(dir, text)), text];
      if (!candidates.some((candidate) => readTarget(candidate) !== null)) problems.push(`${file}: \`${text}\` is not a file of the repository`);
    }
  });
  for (const match of markdown.matchAll(/\b(DESIGN\.md|STYLE\.md|issue #?\d+)/gi)) {
    problems.push(`${file}: names ${JSON.stringify(match[0])}, which the repository does not hold`);
  }
  return problems;
}

/** A repository file's text ('' for a directory), or null when it does not exist. */
function readRepositoryFile(file: string): string | null {
  const full = path.join(REPO_ROOT, file);
  if (!existsSync(full)) return null;
  return statSync(full).isDirectory() ? '' : readFileSync(full, 'utf8');
}

describe('documentation links', () => {
  it('finds a missing file, a missing anchor, a path that is not there and an outside document', () => {
    const files: Record<string, string> = {
      'README.md': '# drover\n\n## Set-up\n',
      'docs/a.md': '# A\n\n## I/O path and `launcher`\n',
    };
    const read = (file: string) => files[file] ?? null;
    const markdown = [
      '# Guide',
      '[ok](a.md) [ok](a.md#io-path-and-launcher) [ok](../README.md#set-up) [ok](#guide) [web](https://example.org/x#y)',
      '[gone](b.md) [no anchor](a.md#nope) [no anchor here](#nope) [outside](../../x.md)',
      '`docs/a.md` is real; `docs/gone.md` and `cluster/gone.ts` are not; see DESIGN.md and issue 14.',
      '```ts',
      "import x from 'cluster/in-a-code-block.ts'; // code blocks are examples, not references",
      '```',
    ].join('\n');
    expect(findBrokenReferences('docs/guide.md', markdown, read)).toEqual([
      'docs/guide.md: link b.md: docs/b.md does not exist',
      'docs/guide.md: link a.md#nope: docs/a.md has no heading #nope',
      'docs/guide.md: link #nope: docs/guide.md has no heading #nope',
      'docs/guide.md: link ../../x.md leaves the repository',
      'docs/guide.md: `docs/gone.md` is not a file of the repository',
      'docs/guide.md: `cluster/gone.ts` is not a file of the repository',
      'docs/guide.md: names "DESIGN.md", which the repository does not hold',
      'docs/guide.md: names "issue 14", which the repository does not hold',
    ]);
  });

  it('slugs headings as GitHub does', () => {
    expect([...getAnchors('# drover\n## I/O path and launcher\n## `drover up`\n## Limits\n## Limits\n')]).toEqual([
      'drover',
      'io-path-and-launcher',
      'drover-up',
      'limits',
      'limits-1',
    ]);
  });

  it.each(listDocuments())('%s: every relative link, anchor and repository path resolves', (file) => {
    expect(findBrokenReferences(file, readRepositoryFile(file)!, readRepositoryFile)).toEqual([]);
  });
});
