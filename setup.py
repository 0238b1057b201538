"""tfgen: TensorFlow/Keras reference implementations of twenty DeepMind papers."""

import setuptools

INSTALL_REQUIRES = [
    "tensorflow~=2.15.1",
    "tensorflow-probability~=0.23.0",
    "tf-agents==0.19.0",
    "tensorflow-serving-api~=2.15.1",
    "absl-py",
    "numpy<2",
    "scikit-learn",
    "mlxtend>=0.23,<0.24",
    "matplotlib",
]

setuptools.setup(
    name="tfgen",
    version="0.1.0",
    description="Keras models of twenty DeepMind papers: train with fit, export, serve.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9,<3.12",
    packages=setuptools.find_packages(include=["tfgen*", "training*", "export*", "serving*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": ["pytest", "pytest-xdist", "pytest-timeout", "ruff", "hypothesis"]},
    entry_points={
        "console_scripts": [
            "tfgen-train=training.__main__:run",
            "tfgen-export=export.__main__:run",
            "tfgen-serve=serving.__main__:run",
        ]
    },
)
