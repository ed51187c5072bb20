import type { Nodes, Parents, Root, RootContent, Text } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown, gfmToMarkdown } from 'mdast-util-gfm';
import { toMarkdown } from 'mdast-util-to-markdown';
import { gfm } from 'micromark-extension-gfm';
import { CONTINUE, SKIP, visit } from 'unist-util-visit';

/**
 * The links of a published post: the model writes the post's Markdown, and only http and https links may come out
 * of it. A link with any other scheme (`javascript:`, `data:`, `file:`, `vbscript:`, `mailto:`, ...) or none (a
 * relative link, which has no page to be relative to) is turned into its text; an autolink, whose text is the URL
 * itself, and a reference definition are dropped; an image keeps its alt text. Raw HTML is published as text, since
 * it can carry links, scripts and event handlers of any kind. The Markdown is read as CommonMark with GitHub's
 * extensions (what renders a post most strictly, e.g. `www.` and e-mail addresses as links), and written again only
 * when something was taken out, so a clean post is published exactly as the model wrote it.
 */

/** What {@link keepWebLinks} publishes, and the schemes of what it took out (`html` for raw HTML). */
export interface PublishedMarkdown {
  markdown: string;
  removed: string[];
}

/**
 * Whether a URL is absolute http or https, as a browser parses it (tabs and newlines stripped, case folded), so
 * `JaVaScRiPt:` or `java\tscript:` are what they are.
 * @example isWebUrl('https://example.com/a'); // true
 * @example isWebUrl('javascript:alert(1)'); // false
 */
export function isWebUrl(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const { protocol } = new URL(url);
  return protocol === 'http:' || protocol === 'https:';
}

/**
 * The post's Markdown with every link that is not http or https taken out (see above).
 * @example keepWebLinks('[x](javascript:alert(1)) and [y](https://example.com)').markdown; // 'x and [y](https://example.com)\n'
 */
export function keepWebLinks(markdown: string): PublishedMarkdown {
  const removed: string[] = [];
  let current = markdown;
  // Text a link leaves behind can form a link of its own once written again (`a@b.co`, GitHub links e-mail
  // addresses): each pass reads what the last one wrote, until one finds nothing to take out.
  for (let pass = 0; pass < MAX_PASSES; pass += 1) {
    const taken = takeOutOnce(current);
    if (taken.removed.length === 0) return { markdown: current, removed };
    removed.push(...taken.removed);
    current = taken.markdown;
  }
  throw new Error(`the post's links did not settle in ${MAX_PASSES} passes`);
}

/** Passes of {@link keepWebLinks}; two suffice unless links are nested in link text. */
const MAX_PASSES = 10;

function takeOutOnce(markdown: string): PublishedMarkdown {
  const tree = fromMarkdown(markdown, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const removed: string[] = [];
  const dropped = new Set<string>();
  visit(tree, 'definition', (node, index, parent) => {
    if (isWebUrl(node.url) || parent === undefined || index === undefined) return CONTINUE;
    removed.push(schemeOf(node.url));
    dropped.add(node.identifier);
    parent.children.splice(index, 1);
    return [SKIP, index];
  });
  // A reference whose only definitions were dropped is text; if another definition of its label is kept, it links there.
  const kept = new Set<string>();
  visit(tree, 'definition', (node) => {
    kept.add(node.identifier);
  });
  const context: ReplacementContext = {
    source: (node) =>
      node.position?.start.offset === undefined || node.position.end.offset === undefined
        ? undefined
        : markdown.slice(node.position.start.offset, node.position.end.offset),
    droppedReference: (identifier) => dropped.has(identifier) && !kept.has(identifier),
  };
  visit(tree, (node, index, parent) => {
    if (parent === undefined || index === undefined) return CONTINUE;
    const replacement = replacementOf(node, context);
    if (replacement === undefined) return CONTINUE;
    if (replacement.scheme !== undefined) removed.push(replacement.scheme);
    replace(parent, index, replacement.nodes);
    // Visit what took the node's place: a link's text may hold an image with a bad URL.
    return [SKIP, index];
  });
  if (removed.length === 0) return { markdown, removed };
  return { markdown: toMarkdown(tree as Root, { extensions: [gfmToMarkdown()] }), removed };
}

interface ReplacementContext {
  /** The Markdown a node was read from. */
  source(node: Nodes): string | undefined;
  /** Whether every definition of a reference's label was dropped. */
  droppedReference(identifier: string): boolean;
}

/** What replaces a node that must not be published as it is, or undefined to keep it. */
function replacementOf(
  node: Nodes,
  context: ReplacementContext,
): { nodes: RootContent[]; scheme?: string } | undefined {
  const { droppedReference } = context;
  switch (node.type) {
    case 'link': {
      if (isWebUrl(node.url)) return undefined;
      // An autolink (`<...>`, or an address GitHub links by itself) is its URL: nothing of it is kept.
      const autolink = context.source(node)?.startsWith('[') !== true;
      return { nodes: autolink ? [] : node.children, scheme: schemeOf(node.url) };
    }
    case 'image':
      if (isWebUrl(node.url)) return undefined;
      return { nodes: textOf(node.alt), scheme: schemeOf(node.url) };
    case 'linkReference':
      // Its definition was counted when it was dropped.
      return droppedReference(node.identifier) ? { nodes: node.children } : undefined;
    case 'imageReference':
      return droppedReference(node.identifier) ? { nodes: textOf(node.alt) } : undefined;
    case 'html':
      return { nodes: textOf(node.value), scheme: 'html' };
    default:
      return undefined;
  }
}

function textOf(value: string | null | undefined): Text[] {
  return value ? [{ type: 'text', value }] : [];
}

/**
 * Puts `nodes` where the child at `index` was. A link's text is phrasing content, as the link was; text that takes
 * the place of a block (raw HTML between paragraphs) becomes a paragraph.
 */
function replace(parent: Parents, index: number, nodes: RootContent[]): void {
  const flow = parent.type === 'root' || parent.type === 'blockquote' || parent.type === 'listItem';
  const placed: RootContent[] = flow
    ? nodes.map((node) => (node.type === 'text' ? { type: 'paragraph', children: [node] } : node))
    : nodes;
  (parent.children as RootContent[]).splice(index, 1, ...placed);
}

/** The scheme a URL names, e.g. `javascript:`, or `none` for a relative or unreadable one. */
function schemeOf(url: string): string {
  return URL.canParse(url) ? new URL(url).protocol : 'none';
}
