import fc from 'fast-check';
import type { Nodes } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { visit } from 'unist-util-visit';
import { describe, expect, it } from 'vitest';
import { isWebUrl, keepWebLinks } from '#functions/draft/markdown-links.ts';

/** What a CommonMark renderer with GitHub's extensions would make a link of: link, image and definition URLs, raw HTML. */
function linkTargets(markdown: string): string[] {
  const tree = fromMarkdown(markdown, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const targets: string[] = [];
  visit(tree, (node: Nodes) => {
    if (node.type === 'link' || node.type === 'image' || node.type === 'definition') targets.push(node.url);
    if (node.type === 'html') targets.push(`html:${node.value}`);
  });
  return targets;
}

describe('Function: keepWebLinks', () => {
  it.each([
    ['an inline link', 'See [x](javascript:alert(1)) now.', 'See x now.\n', ['javascript:']],
    ['an autolink, dropped', 'Go <javascript:alert(1)> now.', 'Go  now.\n', ['javascript:']],
    ['an image, as its alt text', 'A ![chart](data:image/png;base64,AAAA) here.', 'A chart here.\n', ['data:']],
    ['a reference and its definition', '[report][1]\n\n[1]: file:///etc/passwd\n', 'report\n', ['file:']],
    ['a scheme in capitals', '[x](VBScript:msgbox(1))', 'x\n', ['vbscript:']],
    ['a scheme split by a tab entity', '[x](java&#x09;script:alert(1))', 'x\n', ['javascript:']],
    ['a scheme behind a colon entity', '[x](javascript&#58;alert(1))', 'x\n', ['javascript:']],
    [
      'a relative link, which has no page to be relative to',
      '[x](/admin) and [y](#top)',
      'x and y\n',
      ['none', 'none'],
    ],
    ['an e-mail address GitHub would link', 'Write to ops@example.com today.', 'Write to  today.\n', ['mailto:']],
  ])('takes out %s', (_case, markdown, expected, removed) => {
    // Act
    const result = keepWebLinks(markdown);

    // Assess
    expect(result.markdown).toBe(expected);
    expect(result.removed).toEqual(removed);
    expect(linkTargets(result.markdown)).toEqual([]);
  });

  it('publishes raw HTML as text, so no anchor, script or handler of any scheme survives', () => {
    // Act
    const { markdown, removed } = keepWebLinks(
      '<a href="javascript:alert(1)">click</a>\n\nand <img src=x onerror=alert(1)>',
    );

    // Assess
    expect(linkTargets(markdown)).toEqual([]);
    expect(markdown).toContain('click');
    expect(removed.every((scheme) => scheme === 'html')).toBe(true);
  });

  it('takes out a link that a dropped link leaves behind', () => {
    // Prepare: the inner link stops the outer brackets from being a link; once it is text, they would be one
    const markdown = '[a [b](javascript:x)](javascript:y) and [![i](data:x)](javascript:z)';

    // Act
    const result = keepWebLinks(markdown);

    // Assess
    expect(linkTargets(result.markdown)).toEqual([]);
    expect(keepWebLinks(result.markdown).removed).toEqual([]);
  });

  it('publishes a post whose links are all http or https exactly as written', () => {
    // Prepare
    const markdown =
      '# Title\n\n* one  \n* two [a](https://example.com/a "t") <http://example.com/b> www.example.com\n\n' +
      '| a | b |\n|---|---|\n| ![p](https://example.com/p.png) | [r][1] |\n\n`[x](javascript:y)`\n\n[1]: https://example.com/r\n';

    // Act
    const result = keepWebLinks(markdown);

    // Assess
    expect(result).toEqual({ markdown, removed: [] });
  });

  it('leaves only http and https links in any text made of link syntax', () => {
    // Prepare: strings built from the pieces links are made of
    const piece = fc.constantFrom(
      '[',
      ']',
      '(',
      ')',
      '<',
      '>',
      '!',
      ':',
      ' ',
      '\n',
      '\t',
      '\\',
      '*',
      '`',
      '"',
      '&#58;',
      '&#x09;',
      'x',
      'javascript:',
      'JavaScript:alert(1)',
      'data:text/html,x',
      'file:///etc',
      'vbscript:',
      'mailto:a@b.c',
      'https://example.com',
      'http://e.x/y',
      'www.example.com',
      'a@b.co',
      '[1]: ',
      '[1]',
      '<a href="',
      '</a>',
    );
    const markdown = fc.array(piece, { maxLength: 40 }).map((pieces) => pieces.join(''));

    // Act & Assess
    fc.assert(
      fc.property(markdown, (text) => {
        const result = keepWebLinks(text);
        expect(linkTargets(result.markdown).filter((target) => !isWebUrl(target))).toEqual([]);
        if (result.removed.length === 0) expect(result.markdown).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('Function: isWebUrl', () => {
  it.each([
    ['https://example.com/a', true],
    ['HTTP://EXAMPLE.COM', true],
    ['javascript:alert(1)', false],
    [' java\tscript:alert(1)', false],
    ['data:text/html,x', false],
    ['//example.com', false],
    ['example.com', false],
  ])('says %j is %s', (url, expected) => {
    expect(isWebUrl(url)).toBe(expected);
  });
});
