"""``sympy.latex`` and Jupyter's ``_repr_latex_`` on results and trees.

``sp.latex(me)`` used to give ``\\mathtt{\\text{…}}`` (sympy's fallback for
unknown objects); the ``_latex`` hooks make it the object's own LaTeX. Trees
print in Butcher's notation: • for a leaf, [t1,…,tm] for a root with children.
"""

from __future__ import annotations

import sympy as sp

import bea


def test_sympy_latex_of_results():
    me = bea.modified_equation(bea.gd(), 2)
    assert (
        sp.latex(me)
        == me.latex()
        == (
            "f - \\frac{h}{2} f'f + h^{2}\\left(\\frac{1}{12} f''(f,f) + "
            "\\frac{1}{3} f'f'f\\right) + \\mathcal{O}(h^{3})"
        )
    )
    assert me._repr_latex_() == f"$\\tilde f = {sp.latex(me)}$"
    ml = bea.modified_loss(bea.gd(), 1)
    assert sp.latex(ml) == ml.latex()
    assert "\\frac{h}{4} \\|\\nabla L\\|^{2}" in sp.latex(ml)
    mi = bea.modifying_integrator(bea.gd(), 1)
    assert sp.latex(mi) == "f + \\frac{h}{2} f'f + \\mathcal{O}(h^{2})"
    assert mi._repr_latex_() == f"$\\hat f = {sp.latex(mi)}$"
    # inside a larger sympy expression the hook is used too, not sympy's \mathtt fallback
    assert "\\mathtt" not in sp.latex(sp.Tuple(sp.Symbol("a"))) + sp.latex(me)


def test_sympy_latex_of_trees():
    assert sp.latex(bea.tree("[]")) == "\\bullet"
    assert sp.latex(bea.tree("[[],[]]")) == "[\\bullet,\\bullet]"
    assert sp.latex(bea.tree("[[[]]]")) == "[[\\bullet]]"
    assert sp.latex(bea.tree("1[[],2[]]")) in (
        "[\\bullet,\\bullet_{2}]_{1}",
        "[\\bullet_{2},\\bullet]_{1}",
    )
    assert bea.tree("[[]]")._repr_latex_() == "$[\\bullet]$"
    tau = bea.FreeTree("[[]]")
    assert sp.latex(tau) == "\\{[\\bullet]\\}" and tau._repr_latex_() == "$\\{[\\bullet]\\}$"


def test_adaptive_result_latex():
    r = sp.Rational
    adam = bea.optimizers.adam(r(9, 10), r(999, 1000), r(1, 10**8))
    me = bea.modified_equation(adam, 1)
    text = me._repr_latex_()
    assert text.startswith("$") and text.endswith("$") and sp.latex(me) == text[1:-1]
    assert "\\mathtt" not in text and "\\tilde f_{x}" in text  # the per-coordinate form
