#!/usr/bin/env python3
"""Every relative link of README.md, ARCHITECTURE.md and docs/*.md resolves (file and #anchor), as do the alert
rules' runbook anchors. Run from the repository root; exits 1 naming each broken link."""
import re,os,glob,sys
bad=0
def anchors(path):
    out=set()
    for l in open(path):
        m=re.match(r'^#+ (.*)',l)
        if m:
            a=m.group(1).strip().lower()
            a=re.sub(r'[^\w\- ]','',a).replace(' ','-')
            out.add(a)
    return out
for f in ['README.md','ARCHITECTURE.md']+glob.glob('docs/*.md'):
    for m in re.finditer(r'\]\(([^)]+)\)',open(f).read()):
        link=m.group(1)
        if link.startswith('http'): continue
        path,_,anchor=link.partition('#')
        target=os.path.normpath(os.path.join(os.path.dirname(f),path)) if path else f
        if not os.path.exists(target):
            print(f'{f}: missing {link}'); bad+=1; continue
        if anchor and target.endswith('.md') and anchor not in anchors(target):
            print(f'{f}: no anchor {link}'); bad+=1
for f in glob.glob('docker/monitoring/*.yml'):
    for m in re.finditer(r'(docs/\w+\.md)#([\w-]+)',open(f).read()):
        if m.group(2) not in anchors(m.group(1)): print(f'{f}: no anchor {m.group(0)}'); bad+=1
sys.exit(1 if bad else 0)
