# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Every documentation reference in the repository resolves.

Checked in all ``.py`` and ``.md`` files of the repository (outside
``.venv``, ``.git``, ``work_dirs``, ``data``):

- markdown links to a ``.md`` file (``[text](path.md)``,
  ``[text](path.md#anchor)``, ``[text](#anchor)``): the file exists relative to
  the linking file, and the anchor is the GitHub slug of one of its headings;
- plain citations ``docs/<name>.md`` (optionally ``#anchor``): the file exists
  under the repository's ``docs/`` and the anchor exists;
- section citations of the spec (``docs/methods.md §1``, ``methods.md Sec. 2``,
  ``methods.md section 3``, ``methods.md 2.3``): ``docs/methods.md`` has a
  heading numbered that way.
"""
import os
import os.path as osp
import re
import tempfile
import unittest
from typing import Dict, Iterator, List, Set, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SKIP_DIRS = {'.venv', '.git', 'work_dirs', 'data', 'node_modules',
             '__pycache__', '.eggs', 'build'}

MD_LINK = re.compile(r'\]\(([^()\s]*?\.md)?(#[^()\s]*)?\)')
DOC_CITE = re.compile(r'(?<![\w./-])(?:\.\./)*docs/([\w.-]+\.md)(#[\w-]+)?')
SECTION_CITE = re.compile(
    r'methods\.md`*\)?[ \t]*(?:§[ \t]*|Sec\.?[ \t]+|[Ss]ection[ \t]+)'
    r'(\d+(?:\.\d+)?)')
SECTION_NUM = re.compile(r'methods\.md`*[ \t]+(\d+\.\d+)\b')
HEADING = re.compile(r'^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$')
HTML_ANCHOR = re.compile(r'<a\s+(?:id|name)=["\']([^"\']+)["\']')


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, inline markup and
    punctuation dropped (letters, digits, ``_``, ``-`` and spaces kept),
    each space turned into ``-``."""
    text = re.sub(r'`([^`]*)`', r'\1', text)  # inline code keeps its text
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)  # links keep text
    text = text.strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def headings(path: str) -> List[str]:
    """Heading texts of a markdown file, fenced code blocks excluded."""
    out, fenced = [], False
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.lstrip().startswith(('```', '~~~')):
                fenced = not fenced
                continue
            if fenced:
                continue
            m = HEADING.match(line.rstrip('\n'))
            if m:
                out.append(m.group(2))
    return out


def anchors(path: str) -> Set[str]:
    """All anchors of a markdown file (duplicates get ``-1``, ``-2``, ...
    as on GitHub) plus explicit ``<a id=...>`` anchors."""
    seen: Dict[str, int] = {}
    result = set()
    for text in headings(path):
        slug = github_slug(text)
        if slug in seen:
            seen[slug] += 1
            result.add(f'{slug}-{seen[slug]}')
        else:
            seen[slug] = 0
            result.add(slug)
    with open(path, encoding='utf-8') as f:
        result.update(HTML_ANCHOR.findall(f.read()))
    return result


def section_numbers(path: str) -> Set[str]:
    """Leading numbers of the headings (``'2'``, ``'2.3'``, ...)."""
    nums = set()
    for text in headings(path):
        m = re.match(r'(\d+(?:\.\d+)*)\.?\s', text)
        if m:
            nums.add(m.group(1))
    return nums


def repo_files(root: str) -> Iterator[str]:
    """``.py`` and ``.md`` files of the repository."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames
                       if d not in SKIP_DIRS and not d.startswith('.')]
        for name in filenames:
            if name.endswith(('.py', '.md')):
                yield osp.join(dirpath, name)


def _line_of(text: str, pos: int) -> int:
    return text.count('\n', 0, pos) + 1


def broken_references(root: str) -> List[Tuple[str, int, str]]:
    """All unresolved references under ``root`` as ``(file, line, why)``."""
    problems = []
    anchor_cache: Dict[str, Set[str]] = {}

    def has_anchor(target: str, anchor: str) -> bool:
        if target not in anchor_cache:
            anchor_cache[target] = anchors(target)
        return anchor in anchor_cache[target]

    methods = osp.join(root, 'docs', 'methods.md')
    for path in repo_files(root):
        rel = osp.relpath(path, root)
        if osp.abspath(path) == osp.abspath(__file__):
            continue  # this file's fixtures are broken on purpose
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if path.endswith('.md'):
            for m in MD_LINK.finditer(text):
                link, anchor = m.group(1), m.group(2)
                if link is None and anchor is None:
                    continue
                if link is not None and re.match(r'\w+://', link):
                    continue
                target = (osp.normpath(osp.join(osp.dirname(path), link))
                          if link else path)
                where = (rel, _line_of(text, m.start()))
                if not osp.isfile(target):
                    problems.append(where + (f'link to missing file {link}', ))
                elif anchor and not has_anchor(target, anchor[1:]):
                    problems.append(where + (
                        f'no heading with anchor {anchor} in '
                        f'{osp.relpath(target, root)}', ))
        for m in DOC_CITE.finditer(text):
            target = osp.join(root, 'docs', m.group(1))
            where = (rel, _line_of(text, m.start()))
            if not osp.isfile(target):
                problems.append(
                    where + (f'docs/{m.group(1)} does not exist', ))
            elif m.group(2) and not has_anchor(target, m.group(2)[1:]):
                problems.append(where + (
                    f'no heading with anchor {m.group(2)} in '
                    f'docs/{m.group(1)}', ))
        cited = [(m.start(), m.group(1))
                 for regex in (SECTION_CITE, SECTION_NUM)
                 for m in regex.finditer(text)]
        if cited:
            nums = section_numbers(methods) if osp.isfile(methods) else set()
            for pos, num in cited:
                if num not in nums:
                    problems.append((rel, _line_of(text, pos),
                                     f'docs/methods.md has no section {num}'))
    return problems


class TestGithubSlug(unittest.TestCase):

    def test_known_slugs(self):
        # slugs as GitHub renders them
        self.assertEqual(github_slug('1. LSFI + MDC-KD'), '1-lsfi--mdc-kd')
        self.assertEqual(github_slug('4.1 FGD'), '41-fgd')
        self.assertEqual(github_slug('Design choices and deviations'),
                         'design-choices-and-deviations')
        self.assertEqual(github_slug('Workflow: teacher → HF amplifier'),
                         'workflow-teacher--hf-amplifier')
        self.assertEqual(github_slug('The `interval` option'),
                         'the-interval-option')

    def test_duplicates_and_code_blocks(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'a.md')
            with open(path, 'w') as f:
                f.write('# Title\n## Notes\n```shell\n# not a heading\n```\n'
                        '## Notes\n<a id="custom"></a>\n')
            self.assertEqual(anchors(path),
                             {'title', 'notes', 'notes-1', 'custom'})


class TestBrokenReferenceDetection(unittest.TestCase):
    """The checker finds what it must find (so the repository check below
    cannot pass vacuously)."""

    def test_detects_each_kind(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(osp.join(tmp, 'docs'))
            os.makedirs(osp.join(tmp, 'pkg'))
            with open(osp.join(tmp, 'docs', 'methods.md'), 'w') as f:
                f.write('# Spec\n## 1. First\n### 1.1 Detail\n## 2. Second\n')
            with open(osp.join(tmp, 'README.md'), 'w') as f:
                f.write('[ok](docs/methods.md#1-first) '
                        '[bad anchor](docs/methods.md#3-third)\n'
                        '[missing](docs/nothing.md) '
                        '[web](https://x.org/a.md)\n'
                        '[self](#no-such-heading)\n')
            with open(osp.join(tmp, 'pkg', 'mod.py'), 'w') as f:
                f.write('"""See ``docs/methods.md`` Sec. 1, methods.md 1.1,\n'
                        'docs/methods.md section 4 and docs/gone.md."""\n')
            found = sorted(broken_references(tmp))
        self.assertEqual(found, [
            ('README.md', 1, 'no heading with anchor #3-third in '
             'docs/methods.md'),
            ('README.md', 1, 'no heading with anchor #3-third in '
             'docs/methods.md'),
            ('README.md', 2, 'docs/nothing.md does not exist'),
            ('README.md', 2, 'link to missing file docs/nothing.md'),
            ('README.md', 3, 'no heading with anchor #no-such-heading in '
             'README.md'),
            (osp.join('pkg', 'mod.py'), 2, 'docs/gone.md does not exist'),
            (osp.join('pkg', 'mod.py'), 2, 'docs/methods.md has no section 4'),
        ])


class TestRepositoryDocs(unittest.TestCase):

    def test_methods_spec_exists_with_method_sections(self):
        path = osp.join(ROOT, 'docs', 'methods.md')
        self.assertTrue(osp.isfile(path), 'docs/methods.md is missing')
        found = anchors(path)
        for prefix in ('1-lsfi--mdc-kd', '2-ds2d2', '3-cid--light-ml',
                       '4-baselines', '41-fgd', '5-imagenet-initialisation',
                       '6-mixed-precision', '7-dota-evaluation'):
            self.assertTrue(any(a.startswith(prefix) for a in found), prefix)

    def test_method_readmes_link_their_section(self):
        for readme, anchor in (
                ('configs/lsfi_mdc/README.md', '#1-lsfi--mdc-kd'),
                ('configs/ds2d2/README.md', '#2-ds2d2'),
                ('configs/cid_lightml/README.md', '#3-cid--light-ml')):
            with open(osp.join(ROOT, readme), encoding='utf-8') as f:
                self.assertIn(f'docs/methods.md{anchor})', f.read(), readme)
        # every method folder's README (baselines included) links a section
        readmes = [p for p in repo_files(osp.join(ROOT, 'configs'))
                   if osp.basename(p) == 'README.md']
        self.assertGreaterEqual(len(readmes), 3)
        for readme in readmes:
            with open(readme, encoding='utf-8') as f:
                self.assertRegex(f.read(),
                                 r'\(([./]*)docs/methods\.md#[\w-]+\)',
                                 osp.relpath(readme, ROOT))

    def test_all_references_resolve(self):
        problems = broken_references(ROOT)
        self.assertEqual(
            problems, [], 'unresolved documentation references:\n' +
            '\n'.join(f'{p}:{line}: {why}' for p, line, why in problems))


if __name__ == '__main__':
    unittest.main()
