"""A small pt-BR corpus and question set to measure retrieval quality.

The corpus is the help centre of a fictitious shop (also the demo company's knowledge base).
Each question is written as a customer would write it, mostly with other words than the
answer's, and names the heading of the section that answers it.
"""

from __future__ import annotations

CORPUS_TITLE = "Central de ajuda da Loja Aurora"

CORPUS = """# Central de ajuda da Loja Aurora

## Prazo de entrega
Enviamos os pedidos em até 1 dia útil após a confirmação do pagamento. Na capital de São Paulo
a entrega leva de 1 a 2 dias úteis. Para Campinas, Santos e demais cidades do interior paulista,
o prazo é de 2 a 4 dias úteis. Para as regiões Norte e Nordeste, o prazo é de 5 a 9 dias úteis.

## Frete grátis
O frete é grátis para compras acima de R$ 199,00 em todo o Brasil. Abaixo desse valor, o frete
é calculado no carrinho a partir do CEP. Pedidos com itens volumosos, como móveis, pagam frete
à parte mesmo acima do valor mínimo.

## Rastreamento do pedido
Assim que o pedido sai do nosso centro de distribuição, enviamos por e-mail e WhatsApp o código
de rastreio dos Correios ou da transportadora. Você também acompanha a entrega em Minha conta,
na opção Meus pedidos.

## Trocas e devoluções
Você pode devolver qualquer produto em até 7 dias corridos após o recebimento, sem precisar
explicar o motivo, conforme o Código de Defesa do Consumidor. Para trocar por outro tamanho ou
cor, o prazo é de 30 dias. O produto deve estar sem uso e na embalagem original.

## Reembolso
O reembolso é feito na mesma forma de pagamento da compra. No cartão de crédito, o estorno
aparece em até duas faturas. No Pix, devolvemos o valor em até 3 dias úteis após recebermos o
produto de volta no nosso estoque.

## Formas de pagamento
Aceitamos cartão de crédito das bandeiras Visa, Mastercard, Elo e American Express, Pix e boleto
bancário. O boleto vence em 3 dias e o pedido só é separado após a compensação, que leva até
2 dias úteis.

## Parcelamento
Compras no cartão de crédito podem ser parceladas em até 10 vezes sem juros, com parcela mínima
de R$ 30,00. Acima de 10 parcelas não oferecemos parcelamento.

## Desconto no Pix
Pagamentos via Pix têm 5% de desconto sobre o valor dos produtos, aplicado automaticamente no
fechamento do pedido. O código Pix expira em 30 minutos.

## Horário de atendimento
Nosso atendimento funciona de segunda a sexta, das 8h às 20h, e aos sábados das 9h às 14h, no
horário de Brasília. Aos domingos e feriados nacionais não há atendimento humano, mas a
assistente virtual responde a qualquer hora.

## Loja física
Temos uma loja física na Rua Augusta, 1500, em São Paulo, aberta de segunda a sábado das 10h às
22h. Na loja é possível retirar pedidos feitos no site sem pagar frete.

## Retirada na loja
Ao escolher retirar na loja, o pedido fica disponível em até 2 horas após a confirmação do
pagamento. Leve um documento com foto; outra pessoa pode retirar com uma autorização assinada.
O pedido fica reservado por 7 dias.

## Garantia
Todos os produtos têm garantia legal de 90 dias contra defeitos de fabricação. Eletrônicos têm
também garantia do fabricante de 12 meses. Para acionar a garantia, envie fotos ou um vídeo do
defeito e o número do pedido.

## Produto com defeito ou avariado
Se o produto chegar quebrado, amassado ou com defeito, recuse a entrega ou fale conosco em até
7 dias. Nós buscamos o produto sem custo e enviamos outro igual, ou devolvemos o dinheiro, como
você preferir.

## Cancelamento do pedido
É possível cancelar o pedido sem custo enquanto ele não foi enviado: basta pedir pelo WhatsApp
ou em Meus pedidos. Depois do envio, o cancelamento vira uma devolução.

## Alterar endereço de entrega
O endereço só pode ser alterado antes da emissão da nota fiscal, normalmente nas primeiras 2
horas após o pagamento. Depois disso, a transportadora não aceita mudanças.

## Nota fiscal
A nota fiscal eletrônica é enviada por e-mail no momento do envio e também fica disponível para
download em Meus pedidos. Para nota com CNPJ, informe os dados da empresa antes de pagar.

## Cupom de desconto
Cupons são aplicados no carrinho, no campo Cupom de desconto. Apenas um cupom vale por pedido e
cupons não se acumulam com o desconto do Pix. Cupons de primeira compra valem só para o primeiro
pedido de cada CPF.

## Programa de fidelidade
A cada R$ 1,00 gasto você ganha 1 ponto no Clube Aurora. 500 pontos valem R$ 25,00 de desconto.
Os pontos expiram 12 meses após a compra que os gerou.

## Tabela de medidas
Cada página de produto de vestuário traz a tabela de medidas com busto, cintura e quadril em
centímetros. Se ficar entre dois tamanhos, recomendamos o maior.

## Cadastro e senha
Para criar sua conta basta informar nome, CPF, e-mail e uma senha. Se esqueceu a senha, use
Esqueci minha senha na tela de login: enviamos um link válido por 1 hora para o seu e-mail.

## Privacidade e dados pessoais
Seguimos a LGPD: usamos seus dados apenas para processar pedidos e, com sua autorização, para
enviar ofertas. Você pode pedir a exclusão dos seus dados a qualquer momento pelo e-mail
privacidade@lojaaurora.com.br.

## Entregas internacionais
No momento não fazemos entregas fora do Brasil. Clientes do exterior podem comprar e enviar para
um endereço brasileiro.

## Compras para empresas
Para compras corporativas acima de 50 unidades, oferecemos preços especiais e faturamento para
CNPJ com boleto em 28 dias. Peça um orçamento informando os produtos e as quantidades.

## Vale-presente
O vale-presente digital pode ser comprado de R$ 50,00 a R$ 1.000,00 e é enviado por e-mail ao
presenteado. Ele vale por 6 meses e pode ser usado em várias compras até acabar o saldo.

## Embalagem para presente
Oferecemos embalagem para presente por R$ 9,90 por item, com cartão personalizado. O preço do
produto não aparece na nota enviada junto com o presente.
"""

# (question, heading of the section that answers it)
QUESTIONS: list[tuple[str, str]] = [
    ("Em quantos dias chega em Campinas?", "Prazo de entrega"),
    ("Vocês entregam rápido pra Recife? quanto tempo demora", "Prazo de entrega"),
    ("A partir de quanto o envio sai de graça?", "Frete grátis"),
    ("Como sei onde está minha encomenda?", "Rastreamento do pedido"),
    ("Posso devolver um produto que não gostei?", "Trocas e devoluções"),
    ("Quero trocar a camiseta por um tamanho maior, pode?", "Trocas e devoluções"),
    ("Quando recebo meu dinheiro de volta se paguei no pix?", "Reembolso"),
    ("O estorno no cartão demora quanto?", "Reembolso"),
    ("Vocês aceitam boleto?", "Formas de pagamento"),
    ("Dá pra pagar com Elo?", "Formas de pagamento"),
    ("Consigo dividir em 10x sem juros?", "Parcelamento"),
    ("Tem desconto pagando à vista no pix?", "Desconto no Pix"),
    ("Que horas vocês atendem no sábado?", "Horário de atendimento"),
    ("Tem atendimento no domingo?", "Horário de atendimento"),
    ("Onde fica a loja de vocês?", "Loja física"),
    ("Posso buscar meu pedido pessoalmente?", "Retirada na loja"),
    ("Minha irmã pode retirar a compra por mim?", "Retirada na loja"),
    ("Qual a garantia do fone de ouvido?", "Garantia"),
    ("O liquidificador chegou quebrado, o que eu faço?", "Produto com defeito ou avariado"),
    ("Desisti da compra, como cancelo?", "Cancelamento do pedido"),
    ("Errei o endereço, dá pra mudar?", "Alterar endereço de entrega"),
    ("Preciso da nota fiscal no CNPJ da minha empresa", "Nota fiscal"),
    ("Posso usar dois cupons na mesma compra?", "Cupom de desconto"),
    ("Como funcionam os pontos do clube?", "Programa de fidelidade"),
    ("Meus pontos vencem?", "Programa de fidelidade"),
    ("Como escolho o tamanho certo do vestido?", "Tabela de medidas"),
    ("Esqueci minha senha", "Cadastro e senha"),
    ("Quero que apaguem meus dados", "Privacidade e dados pessoais"),
    ("Vocês mandam para Portugal?", "Entregas internacionais"),
    ("Quero comprar 200 unidades para minha empresa", "Compras para empresas"),
    ("Vocês vendem cartão presente?", "Vale-presente"),
    ("Dá pra embrulhar pra presente?", "Embalagem para presente"),
]
