import { describe, expect, it } from 'vitest';
import { escapeHtml, html, raw, safeHref } from './html.js';

describe('html', () => {
  it('when values are interpolated then text and quoted attributes cannot break out; nested html and arrays compose', () => {
    const hostile = `<script>x</script>"'&\``;
    const out = html`<a title="${hostile}" data-x='${hostile}'>${hostile}${[html`<b>${1}</b>`, 'y']}${null}${undefined}${false}</a>`.value;
    expect(out).toBe(
      `<a title="&lt;script&gt;x&lt;/script&gt;&quot;&#39;&amp;&#96;" data-x='&lt;script&gt;x&lt;/script&gt;&quot;&#39;&amp;&#96;'>&lt;script&gt;x&lt;/script&gt;&quot;&#39;&amp;&#96;<b>1</b>y</a>`,
    );
    expect(escapeHtml('a&b')).toBe('a&amp;b');
    expect(html`${raw('<hr>')}`.value).toBe('<hr>');
  });

  it('when a URL goes into an href then only http(s) and same-site paths survive', () => {
    expect(safeHref('https://pr-1.preview.test/')).toBe('https://pr-1.preview.test/');
    expect(safeHref('/ui/queue')).toBe('/ui/queue');
    for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<b>', '//evil.example/x', 'vbscript:x', 'not a url', '', null, undefined]) {
      expect(safeHref(bad)).toBe('#');
    }
  });
});
